"""API tokens for programs (`api`) and Slack-style bots (`bot`): hashed at rest, role-scoped.

A token is `fg_<workspace>_<id>_<secret>` (`fgb_` for bots): 32 hex digits of workspace id, 32
of row id, then 256 random bits. `api_tokens` is a tenant table: a presented token opens its
workspace's session, is looked up by id under RLS, and its secret is compared in constant time
with the stored SHA-256. A token whose workspace part is changed finds nothing. A token acts as
its member with at most its own role (the member's current role caps it too), until it is
revoked or its member leaves the workspace. Using a token records `last_used_at` at most once a
minute, and that update is audited like any other, as the token.

Every refusal has the same body. The timing differs in one case: a token naming a workspace
that does not exist (or is retired) is refused before any token row is read, which tells a
caller holding a workspace id whether it exists, and nothing about any token.
"""

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa

from store.auth.digests import digest, new_secret, same
from store.auth.principals import Principal, member_role
from store.errors import Forbidden, InvalidInput, NotFound, Unauthenticated, WorkspaceRetired
from store.models import ApiToken, Identity, Member
from store.runtime import Store
from store.services.access import ROLE_RANK, has_role
from store.tenancy import Role, TenantSession

_tokens = ApiToken.__table__  # pyright: ignore[reportAttributeAccessIssue]
_identities = Identity.__table__  # pyright: ignore[reportAttributeAccessIssue]
_members = Member.__table__  # pyright: ignore[reportAttributeAccessIssue]
_FORMAT = re.compile(r"^(fgb?)_([0-9a-f]{32})_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$")
PREFIX = {"api": "fg", "bot": "fgb"}
INVALID = "The API token is not valid (unknown, revoked or expired)."
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    """A token just made; `token` is shown once and cannot be recovered."""

    id: uuid.UUID
    token: str
    tenant_id: uuid.UUID
    member_id: uuid.UUID
    name: str
    role: Role
    kind: str
    created_at: datetime


@dataclass(frozen=True)
class TokenInfo:
    id: uuid.UUID
    member_id: uuid.UUID
    name: str
    role: str
    kind: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 120:
        raise InvalidInput("name: 1 to 120 characters")
    return name


async def issue_token(
    ts: TenantSession,
    *,
    member_id: uuid.UUID,
    name: str,
    role: Role | None,
    kind: str,
    now: datetime,
) -> IssuedToken:
    """Mint a token for a member of the session's workspace.

    The token's role defaults to the member's and may not exceed it. A person may mint tokens
    for themselves; minting one for another member, or a bot token (it speaks as Nexus), needs
    admin.
    """
    if kind not in PREFIX:
        raise InvalidInput("kind must be 'api' or 'bot'")
    if role is not None and role not in ROLE_RANK:
        raise InvalidInput(f"role must be one of {', '.join(ROLE_RANK)}")
    identity_id = (
        await ts.db.execute(
            sa.select(_members.c.identity_id).where(
                _members.c.tenant_id == ts.tenant_id, _members.c.id == member_id
            )
        )
    ).scalar_one_or_none()
    if identity_id is None:
        raise NotFound("member", member_id)
    held = await member_role(ts, member_id, identity_id)
    granted: Role = role or held
    if ROLE_RANK[granted] > ROLE_RANK[held]:
        raise InvalidInput(f"role: the member is {held}; a token cannot have more ({granted})")
    if not ts.actor.endswith(str(member_id)) and not has_role(ts, "admin"):
        raise Forbidden("only admins may create tokens for other members")
    if kind == "bot" and not has_role(ts, "admin"):
        # A bot token speaks as Nexus in the workspace's channels (docs/slack.md).
        raise Forbidden("only admins may create bot tokens: a bot token speaks as Nexus")
    name = _check_name(name)
    token_id = uuid.uuid4()
    secret = new_secret()
    await ts.db.execute(
        sa.insert(_tokens).values(
            id=token_id,
            tenant_id=ts.tenant_id,
            member_id=member_id,
            name=name,
            role=granted,
            kind=kind,
            secret_hash=digest(secret),
            created_at=now,
        )
    )
    token = f"{PREFIX[kind]}_{ts.tenant_id.hex}_{token_id.hex}_{secret}"
    return IssuedToken(token_id, token, ts.tenant_id, member_id, name, granted, kind, now)


async def member_for_email(ts: TenantSession, email: str) -> uuid.UUID:
    """The member id of the person with this email in the session's workspace."""
    member_id = (
        await ts.db.execute(
            sa.select(_members.c.id)
            .join(_identities, _identities.c.id == _members.c.identity_id)
            .where(_members.c.tenant_id == ts.tenant_id, _identities.c.email == email)
        )
    ).scalar_one_or_none()
    if member_id is None:
        raise InvalidInput(f"{email} is not a member of workspace {ts.tenant_id}")
    return member_id


async def resolve_token(store: Store, presented: str, *, now: datetime) -> Principal:
    """The principal an `Authorization: Bearer` token stands for, or Unauthenticated."""
    match = _FORMAT.match(presented.strip())
    if match is None:
        raise Unauthenticated(INVALID)
    prefix, tenant_hex, id_hex, secret = match.groups()
    tenant_id, token_id = uuid.UUID(tenant_hex), uuid.UUID(id_hex)
    try:
        async with store.tenant_session(
            tenant_id, f"token:{token_id}", via="api", role="viewer"
        ) as ts:
            return await _verify(ts, token_id, prefix, secret, now)
    except (NotFound, WorkspaceRetired):  # no such workspace, or a retired one: same answer
        raise Unauthenticated(INVALID) from None


async def _verify(
    ts: TenantSession, token_id: uuid.UUID, prefix: str, secret: str, now: datetime
) -> Principal:
    row = (
        await ts.db.execute(
            sa.select(_tokens).where(_tokens.c.tenant_id == ts.tenant_id, _tokens.c.id == token_id)
        )
    ).one_or_none()
    # Compare even when the row is missing, so a wrong id and a wrong secret cost the same.
    stored = row.secret_hash if row is not None else digest("no such token")
    matches = same(stored, digest(secret))
    if (
        row is None
        or not matches
        or PREFIX[row.kind] != prefix
        or row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
    ):
        raise Unauthenticated(INVALID)
    person = (
        await ts.db.execute(
            sa.select(_identities.c.id, _identities.c.email)
            .join(_members, _members.c.identity_id == _identities.c.id)
            .where(_members.c.tenant_id == ts.tenant_id, _members.c.id == row.member_id)
        )
    ).one_or_none()
    if person is None:
        raise Unauthenticated(INVALID)
    if row.last_used_at is None or row.last_used_at + LAST_USED_RESOLUTION <= now:
        await ts.db.execute(
            sa.update(_tokens)
            .where(_tokens.c.tenant_id == ts.tenant_id, _tokens.c.id == row.id)
            .values(last_used_at=now)
        )
    return Principal(
        identity_id=person.id,
        email=person.email,
        credential="token",
        credential_id=row.id,
        tenant_id=ts.tenant_id,
        member_id=row.member_id,
        auth_method="token",
        token_role=cast(Role, row.role),
        token_kind=row.kind,
    )


async def list_tokens(ts: TenantSession, *, member_id: uuid.UUID | None) -> list[TokenInfo]:
    """Tokens of the workspace (admins) or of one member; never their secrets."""
    query = sa.select(_tokens).where(_tokens.c.tenant_id == ts.tenant_id)
    if member_id is not None:
        query = query.where(_tokens.c.member_id == member_id)
    rows = (await ts.db.execute(query.order_by(_tokens.c.created_at))).all()
    return [
        TokenInfo(
            r.id, r.member_id, r.name, r.role, r.kind, r.created_at, r.last_used_at, r.revoked_at
        )
        for r in rows
    ]


async def revoke_token(
    ts: TenantSession, token_id: uuid.UUID, *, member_id: uuid.UUID | None, now: datetime
) -> None:
    """Revoke a token of the workspace: one's own (`member_id`), or any as an admin."""
    query = sa.update(_tokens).where(_tokens.c.tenant_id == ts.tenant_id, _tokens.c.id == token_id)
    if not has_role(ts, "admin"):
        if member_id is None:
            raise Forbidden("only admins may revoke other members' tokens")
        query = query.where(_tokens.c.member_id == member_id)
    result = await ts.db.execute(
        query.values(revoked_at=sa.func.coalesce(_tokens.c.revoked_at, now)).returning(_tokens.c.id)
    )
    if result.first() is None:
        raise NotFound("API token", token_id)
