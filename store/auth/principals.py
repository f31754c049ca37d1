"""The caller of a request, and the tenant session that carries their role.

A `Principal` is what a session cookie or an API token resolved to. Its workspace role is not
part of it: `workspace_session` reads the member's role inside the same transaction as the work,
so a role change or a removal takes effect on the next request, and an API token's role caps it.
"""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal, cast

import sqlalchemy as sa

from store.errors import Forbidden
from store.models import Member
from store.runtime import Store
from store.services.access import ROLE_RANK
from store.tenancy import Role, TenantSession, Via

_members = Member.__table__  # pyright: ignore[reportAttributeAccessIssue]
NOT_A_MEMBER = "You are not a member of this workspace (any more)."


@dataclass(frozen=True)
class Principal:
    """Who is asking, as established by a session or an API token."""

    identity_id: uuid.UUID
    email: str
    credential: Literal["session", "token"]
    credential_id: uuid.UUID  # the session's or the token's id
    tenant_id: uuid.UUID | None
    member_id: uuid.UUID | None
    is_platform_admin: bool = False
    auth_method: str = "password"  # password, passkey or token
    user_verified: bool = False
    token_role: Role | None = None  # an API token's ceiling
    token_kind: str | None = None

    @property
    def actor(self) -> str:
        """The audit actor: `token:<id>`, `platform:<identity>` or `member:<id>`."""
        if self.credential == "token":
            return f"token:{self.credential_id}"
        if self.is_platform_admin:
            return f"platform:{self.identity_id}"
        return f"member:{self.member_id}"

    @property
    def via(self) -> Via:
        return "api" if self.credential == "token" else "ui"


def lower_role(a: Role, b: Role | None) -> Role:
    """The weaker of two roles (`b` None means no cap)."""
    if b is None:
        return a
    return a if ROLE_RANK[a] <= ROLE_RANK[b] else b


async def member_role(ts: TenantSession, member_id: uuid.UUID, identity_id: uuid.UUID) -> Role:
    """The member's current role in the session's workspace, or Forbidden."""
    role = (
        await ts.db.execute(
            sa.select(_members.c.role).where(
                _members.c.tenant_id == ts.tenant_id,
                _members.c.id == member_id,
                _members.c.identity_id == identity_id,
            )
        )
    ).scalar_one_or_none()
    if role is None:
        raise Forbidden(NOT_A_MEMBER)
    return cast(Role, role)


@asynccontextmanager
async def workspace_session(
    store: Store, principal: Principal, *, via: Via | None = None
) -> AsyncIterator[TenantSession]:
    """One transaction in the principal's workspace, with their current role.

    The session opens with the lowest role and is raised to the member's real role (capped by an
    API token's) only after it was read, so nothing can run with more than the person holds.
    """
    if principal.tenant_id is None or principal.member_id is None:
        raise Forbidden("This sign-in is not for a workspace.")
    async with store.tenant_session(
        principal.tenant_id, principal.actor, via=via or principal.via, role="viewer"
    ) as ts:
        role = await member_role(ts, principal.member_id, principal.identity_id)
        ts.role = lower_role(role, principal.token_role)
        yield ts
