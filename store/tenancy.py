"""The one way into workspace data: `Store.tenant_session(tenant_id, actor)`.

A tenant session is one transaction in which `app.tenant_id` and `app.actor` are set with
`set_config(..., true)`: transaction-local, so a pooled connection never carries a tenant into
the next request. Row-level security in PostgreSQL does the isolating; this module only says
who is asking. Platform tables are reached through `dangerously_unscoped_session`, whose name is
meant to be noticed in review.
"""

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from store.errors import InvalidInput, NotFound, WorkspaceRetired

if TYPE_CHECKING:
    from store.crypto.fields import RecordSealer

Via = Literal["ui", "api", "agent", "slack", "cli", "system"]
Role = Literal["owner", "admin", "member", "viewer"]
ACTOR_KINDS = ("member", "token", "agent", "slack", "platform", "system")
_ACTOR = re.compile(rf"^({'|'.join(ACTOR_KINDS)}):[A-Za-z0-9._:/@-]{{1,200}}$")

_BEGIN_TENANT = text(
    "SELECT set_config('app.tenant_id', CAST(:tenant AS text), true), "
    "set_config('app.actor', :actor, true), "
    "set_config('app.via', :via, true), "
    "t.status, t.key_ref "
    "FROM (SELECT 1) AS one LEFT JOIN tenants AS t ON t.id = CAST(:tenant AS uuid)"
)


def check_actor(actor: str) -> str:
    """An actor is `kind:id`, e.g. `member:<uuid>` or `agent:<run id>/<tool call id>`."""
    if not _ACTOR.fullmatch(actor):
        raise InvalidInput(f"actor must look like 'kind:id' with kind in {ACTOR_KINDS}")
    return actor


@dataclass
class TenantSession:
    """A database session bound to one workspace and one actor, for one transaction."""

    db: AsyncSession
    tenant_id: uuid.UUID
    actor: str
    via: Via
    key_ref: str
    sealer: "RecordSealer"
    role: Role | None = None  # the acting person's role; None for platform and system actors


def create_app_engine(app_url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        app_url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


class SessionFactory:
    """Opens tenant-bound (and, loudly, unscoped) sessions on the app role's engine."""

    def __init__(self, engine: AsyncEngine, sealer: "RecordSealer") -> None:
        self.engine = engine
        self.sealer = sealer
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @asynccontextmanager
    async def tenant_session(
        self, tenant_id: uuid.UUID, actor: str, *, via: Via = "api", role: Role | None = None
    ) -> AsyncIterator[TenantSession]:
        """One transaction in one workspace; commits when the block succeeds, else rolls back.

        `role` is the role of the person behind `actor` (services check it with
        `store.services.access.require_role`); leave it None only for platform and system work.
        """
        check_actor(actor)
        async with self._sessions() as db, db.begin():
            yield await self.bind(db, tenant_id, actor, via=via, role=role)

    async def bind(
        self,
        db: AsyncSession,
        tenant_id: uuid.UUID,
        actor: str,
        *,
        via: Via,
        role: Role | None = None,
    ) -> TenantSession:
        """Scope an open transaction to a workspace (used by tenant_session and provisioning)."""
        check_actor(actor)
        row = (
            await db.execute(_BEGIN_TENANT, {"tenant": str(tenant_id), "actor": actor, "via": via})
        ).one()
        if row.status is None:
            raise NotFound("workspace", tenant_id)
        if row.status == "retired":
            raise WorkspaceRetired(tenant_id)
        return TenantSession(
            db=db,
            tenant_id=tenant_id,
            actor=actor,
            via=via,
            key_ref=row.key_ref,
            sealer=self.sealer,
            role=role,
        )

    @asynccontextmanager
    async def dangerously_unscoped_session(self) -> AsyncIterator[AsyncSession]:
        """A transaction with no workspace: platform tables only; tenant tables raise in it."""
        async with self._sessions() as db, db.begin():
            yield db
