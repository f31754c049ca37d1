"""Workspaces: create (with their key, first data key and owner), list, rotate and retire.

These are platform operations. They touch workspace records only through a tenant-bound
transaction, and never read a workspace's CRM data.
"""

import asyncio
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.entities import BY_NAME
from store.errors import InvalidInput, NotFound
from store.models import Identity, Invite, Member, PlatformEvent, Tenant
from store.models.base import utcnow
from store.runtime import Store
from store.services import records
from store.tenancy import TenantSession, Via

INVITE_LIFETIME = timedelta(days=7)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_tenants = Tenant.__table__  # pyright: ignore[reportAttributeAccessIssue]
_identities = Identity.__table__  # pyright: ignore[reportAttributeAccessIssue]
_invites = Invite.__table__  # pyright: ignore[reportAttributeAccessIssue]
_members = Member.__table__  # pyright: ignore[reportAttributeAccessIssue]
_platform_events = PlatformEvent.__table__  # pyright: ignore[reportAttributeAccessIssue]

DEFAULT_STAGES = (
    ("Lead", 10, "open"),
    ("Qualified", 25, "open"),
    ("Proposal", 50, "open"),
    ("Negotiation", 75, "open"),
    ("Won", 100, "won"),
    ("Lost", 0, "lost"),
)


@dataclass(frozen=True)
class WorkspaceCreated:
    tenant_id: uuid.UUID
    owner_email: str
    invite_token: str
    invite_expires_at: datetime


@dataclass(frozen=True)
class WorkspaceInfo:
    tenant_id: uuid.UUID
    name: str
    status: str
    key_provider: str
    key_state: str
    created_at: datetime
    retired_at: datetime | None


def check_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        raise InvalidInput(f"{email!r} is not a valid email address")
    return email


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("workspace name must be 1 to 120 characters")
    return name


async def create_workspace(
    store: Store, *, name: str, owner_email: str, actor: str
) -> WorkspaceCreated:
    """A new workspace with its own KEK, first data key, default pipeline and an owner invite.

    Everything in the database happens in one transaction; if it fails, the freshly created KEK
    is retired again, so nothing is left half-made.
    """
    name, owner_email = check_name(name), check_email(owner_email)
    tenant_id = uuid.uuid4()
    key_ref = await asyncio.to_thread(store.provider.create_key, tenant_id)
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + INVITE_LIFETIME
    try:
        async with store.dangerously_unscoped_session() as db:
            await db.execute(
                insert(_tenants).values(
                    id=tenant_id,
                    name=name,
                    status="active",
                    key_provider=store.provider.name,
                    key_ref=key_ref,
                    created_at=utcnow(),
                )
            )
            identity_id = await _identity_for(db, owner_email)
            await db.execute(
                insert(_invites).values(
                    id=uuid.uuid4(),
                    tenant_id=tenant_id,
                    email=owner_email,
                    role="owner",
                    token_hash=hash_token(token),
                    expires_at=expires_at,
                    created_at=utcnow(),
                )
            )
            ts = await store.sessions.bind(db, tenant_id, actor, via="cli")
            await store.keyring.add_data_key(ts)
            await db.execute(
                insert(_members).values(
                    tenant_id=tenant_id, id=uuid.uuid4(), identity_id=identity_id, role="owner"
                )
            )
            await _seed_default_pipeline(ts)
    except BaseException:
        await asyncio.to_thread(store.provider.retire, tenant_id, key_ref)
        store.keyring.purge(tenant_id)
        raise
    return WorkspaceCreated(tenant_id, owner_email, token, expires_at)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _identity_for(db: AsyncSession, email: str) -> uuid.UUID:
    existing = (
        await db.execute(select(_identities.c.id).where(_identities.c.email == email))
    ).scalar()
    if existing is not None:
        return existing
    identity_id = uuid.uuid4()
    await db.execute(insert(_identities).values(id=identity_id, email=email, created_at=utcnow()))
    return identity_id


async def _seed_default_pipeline(ts: TenantSession) -> None:
    pipeline = await records.create_record(
        ts, BY_NAME["pipeline"], {"name": "Sales", "is_default": True}
    )
    for position, (stage, probability, outcome) in enumerate(DEFAULT_STAGES):
        await records.create_record(
            ts,
            BY_NAME["stage"],
            {
                "pipeline_id": pipeline.id,  # pyright: ignore[reportAttributeAccessIssue]
                "name": stage,
                "position": position,
                "probability": probability,
                "outcome": outcome,
            },
        )


async def list_workspaces(store: Store) -> list[WorkspaceInfo]:
    async with store.dangerously_unscoped_session() as db:
        rows = (await db.execute(select(_tenants).order_by(_tenants.c.created_at))).all()
    infos: list[WorkspaceInfo] = []
    for row in rows:
        state = await asyncio.to_thread(store.provider.key_state, row.id, row.key_ref)
        infos.append(
            WorkspaceInfo(
                row.id,
                row.name,
                row.status,
                row.key_provider,
                state,
                row.created_at,
                row.retired_at,
            )
        )
    return infos


async def rotate_data_key(store: Store, tenant_id: uuid.UUID, *, actor: str) -> int:
    """A new data key version; old versions stay to read old rows, new writes use the new one."""
    async with store.tenant_session(tenant_id, actor, via="cli") as ts:
        return await store.keyring.add_data_key(ts)


async def retire_workspace(
    store: Store,
    tenant_id: uuid.UUID,
    *,
    actor: str = "system:retire",
    via: Via = "cli",
    admin_identity_id: uuid.UUID | None = None,
) -> str:
    """Refuse all access, destroy or disable the KEK, and purge cached keys. Idempotent.

    While the workspace is still active, a `platform_events` row is committed in its own trail
    first (access transparency: the workspace sees who retired it). Then the status is
    committed: from then on every new tenant session of the workspace, in every process, is
    refused. Then the key goes. Running it again finishes a retirement whose key step failed,
    keeps the first `retired_at`, and writes no second event (the trail is closed by then).
    """
    async with store.dangerously_unscoped_session() as db:
        status = (
            await db.execute(select(_tenants.c.status).where(_tenants.c.id == tenant_id))
        ).scalar()
    if status is None:
        raise NotFound("workspace", tenant_id)
    if status == "active":
        async with store.tenant_session(tenant_id, actor, via=via) as ts:
            await ts.db.execute(
                insert(_platform_events).values(
                    tenant_id=tenant_id,
                    id=uuid.uuid4(),
                    action="workspace.key_retired",
                    admin_identity_id=admin_identity_id,
                )
            )
    async with store.dangerously_unscoped_session() as db:
        row = (
            await db.execute(
                update(_tenants)
                .where(_tenants.c.id == tenant_id)
                .values(status="retired", retired_at=func.coalesce(_tenants.c.retired_at, utcnow()))
                .returning(_tenants.c.key_ref)
            )
        ).one_or_none()
    if row is None:
        raise NotFound("workspace", tenant_id)
    store.keyring.purge(tenant_id)
    state = await asyncio.to_thread(store.provider.retire, tenant_id, row.key_ref)
    # Again, in case a session that began before the status change re-filled the cache meanwhile.
    store.keyring.purge(tenant_id)
    return state
