"""Live evidence for the security page (/trust): read from the database and the key provider.

Nothing here is a claim typed by hand: row-level security comes from `pg_catalog` as the app
role sees it, the key state from the key provider, the audit result from verifying the chain.
"""

import asyncio
import uuid
from typing import Any

import sqlalchemy as sa

from store.errors import NotFound
from store.models import PLATFORM_TABLES
from store.runtime import Store
from store.tenancy import TenantSession


async def rls_status(ts: TenantSession) -> list[dict[str, Any]]:
    """Every table of the app's schema: RLS enabled, forced, and whether it is per tenant."""
    rows = await ts.db.execute(
        sa.text(
            """
            SELECT c.relname AS table_name,
                   c.relrowsecurity AS rls,
                   c.relforcerowsecurity AS forced,
                   EXISTS (SELECT 1 FROM pg_attribute a
                           WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                             AND NOT a.attisdropped) AS tenant_scoped
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
            ORDER BY c.relname
            """
        )
    )
    # Platform tables (sign-in, invites) carry a workspace id but no workspace records; they are
    # reached only through the store's loud unscoped session, so they are shown, not counted.
    return [
        {
            **r._mapping,
            "tenant_scoped": r.tenant_scoped and r.table_name not in PLATFORM_TABLES,
            "platform": r.table_name in PLATFORM_TABLES,
        }
        for r in rows
    ]


async def key_status(store: Store, tenant_id: uuid.UUID) -> dict[str, Any]:
    """The workspace's key provider (`local` or `aws`) and its key's state there."""
    tenants = sa.table(
        "tenants",
        sa.column("id"),
        sa.column("key_ref"),
        sa.column("key_provider"),
        sa.column("status"),
    )
    async with store.dangerously_unscoped_session() as db:
        row = (
            await db.execute(
                sa.select(tenants.c.key_ref, tenants.c.key_provider, tenants.c.status).where(
                    tenants.c.id == tenant_id
                )
            )
        ).first()
    if row is None:
        raise NotFound("workspace", tenant_id)
    state = await asyncio.to_thread(store.provider.key_state, tenant_id, row.key_ref)
    return {
        "provider": row.key_provider,
        "provider_class": type(store.provider).__name__,
        "key_state": str(getattr(state, "value", state)),
        "workspace_status": row.status,
    }
