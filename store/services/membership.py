"""The people of a workspace: invite, list, change roles, remove.

Every change is a write to `members`, a tenant table, inside the caller's tenant session, so the
audit trigger records who did it (`member:<id>`, `token:<id>`, `platform:<id>`) with the row
before and after. The rules:

- admins and owners manage members; only an owner may grant or take away `owner`;
- a workspace always keeps at least one owner;
- inviting creates the member row at once (with the role) and a single-use, expiring invite for
  the person to set their first credential; an existing account simply gains the membership.
"""

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa

from store.errors import Conflict, Forbidden, InvalidInput, NotFound
from store.models import Identity, Invite, Member
from store.services.access import ROLE_RANK, require_role
from store.services.tenants import check_email, hash_token
from store.tenancy import Role, TenantSession

INVITE_LIFETIME = timedelta(days=7)
_members = Member.__table__  # pyright: ignore[reportAttributeAccessIssue]
_identities = Identity.__table__  # pyright: ignore[reportAttributeAccessIssue]
_invites = Invite.__table__  # pyright: ignore[reportAttributeAccessIssue]


@dataclass(frozen=True)
class MemberInfo:
    id: uuid.UUID
    email: str
    role: str
    created_at: datetime


@dataclass(frozen=True)
class Invited:
    member: MemberInfo
    invite_token: str
    expires_at: datetime


def _check_role(role: str) -> Role:
    if role not in ROLE_RANK:
        raise InvalidInput(f"role must be one of {', '.join(ROLE_RANK)}")
    return cast(Role, role)


def _may_assign(ts: TenantSession, role: Role) -> None:
    require_role(ts, "admin", to="manage members")
    if role == "owner":
        require_role(ts, "owner", to="make someone an owner")


async def list_members(ts: TenantSession) -> list[MemberInfo]:
    require_role(ts, "viewer", to="see the members")
    rows = (
        await ts.db.execute(
            sa.select(_members.c.id, _identities.c.email, _members.c.role, _members.c.created_at)
            .join(_identities, _identities.c.id == _members.c.identity_id)
            .where(_members.c.tenant_id == ts.tenant_id)
            .order_by(_members.c.created_at)
        )
    ).all()
    return [MemberInfo(r.id, r.email, r.role, r.created_at) for r in rows]


async def invite_member(ts: TenantSession, email: str, role: str, now: datetime) -> Invited:
    """Add a person with a role and issue their single-use invite."""
    email, granted = check_email(email), _check_role(role)
    _may_assign(ts, granted)
    identity = (
        await ts.db.execute(
            sa.select(_identities.c.id, _identities.c.is_platform_admin).where(
                _identities.c.email == email
            )
        )
    ).one_or_none()
    if identity is not None and identity.is_platform_admin:
        raise Conflict(f"{email} is a FlowGrid platform admin and cannot join a workspace")
    identity_id = identity.id if identity is not None else uuid.uuid4()
    if identity is None:
        await ts.db.execute(
            sa.insert(_identities).values(id=identity_id, email=email, created_at=now)
        )
    already = (
        await ts.db.execute(
            sa.select(_members.c.id).where(
                _members.c.tenant_id == ts.tenant_id, _members.c.identity_id == identity_id
            )
        )
    ).first()
    if already is not None:
        raise Conflict(f"{email} is already a member of this workspace")
    member_id = uuid.uuid4()
    await ts.db.execute(
        sa.insert(_members).values(
            tenant_id=ts.tenant_id, id=member_id, identity_id=identity_id, role=granted
        )
    )
    token = secrets.token_urlsafe(32)
    expires_at = now + INVITE_LIFETIME
    await ts.db.execute(
        sa.insert(_invites).values(
            id=uuid.uuid4(),
            tenant_id=ts.tenant_id,
            email=email,
            role=granted,
            token_hash=hash_token(token),
            expires_at=expires_at,
            created_at=now,
        )
    )
    return Invited(MemberInfo(member_id, email, granted, now), token, expires_at)


async def change_role(ts: TenantSession, member_id: uuid.UUID, role: str) -> MemberInfo:
    """Give a member another role; owners are changed only by owners, and one always remains."""
    granted = _check_role(role)
    _may_assign(ts, granted)
    current = await _member(ts, member_id)
    if current.role == "owner":
        require_role(ts, "owner", to="change an owner's role")
        if granted != "owner":
            await _keep_an_owner(ts, member_id)
    await ts.db.execute(
        sa.update(_members)
        .where(_members.c.tenant_id == ts.tenant_id, _members.c.id == member_id)
        .values(role=granted)
    )
    return MemberInfo(current.id, current.email, granted, current.created_at)


async def remove_member(ts: TenantSession, member_id: uuid.UUID) -> MemberInfo:
    """Take a person out of the workspace; their sessions and tokens stop working at once."""
    require_role(ts, "admin", to="remove members")
    current = await _member(ts, member_id)
    if current.role == "owner":
        require_role(ts, "owner", to="remove an owner")
        await _keep_an_owner(ts, member_id)
    await ts.db.execute(
        sa.delete(_members).where(_members.c.tenant_id == ts.tenant_id, _members.c.id == member_id)
    )
    return current


async def _member(ts: TenantSession, member_id: uuid.UUID) -> MemberInfo:
    row = (
        await ts.db.execute(
            sa.select(_members.c.id, _identities.c.email, _members.c.role, _members.c.created_at)
            .join(_identities, _identities.c.id == _members.c.identity_id)
            .where(_members.c.tenant_id == ts.tenant_id, _members.c.id == member_id)
            .with_for_update(of=_members)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("member", member_id)
    return MemberInfo(row.id, row.email, row.role, row.created_at)


async def _keep_an_owner(ts: TenantSession, leaving: uuid.UUID) -> None:
    others = (
        await ts.db.execute(
            sa.select(sa.func.count()).where(
                _members.c.tenant_id == ts.tenant_id,
                _members.c.role == "owner",
                _members.c.id != leaving,
            )
        )
    ).scalar_one()
    if not others:
        raise Forbidden("a workspace needs at least one owner; make someone else owner first")
