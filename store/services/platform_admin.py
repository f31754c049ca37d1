"""What a platform admin does to workspaces from the console, with access transparency.

Platform admins manage workspaces and keys and read no workspace's records. Every action that
touches a workspace leaves a row in that workspace's own audit trail, under the actor
`platform:<admin identity id>`: creating a workspace writes tenant rows (owner member, pipeline)
through a tenant session anyway; retiring a key changes only platform tables and the key
provider, so a `platform_events` row is written in the workspace first, while its trail can
still be written, and the key is retired only after that row has committed.
"""

import uuid

import sqlalchemy as sa

from store.errors import InvalidInput, NotFound
from store.models import PlatformEvent, Tenant
from store.runtime import Store
from store.services import tenants

_events = PlatformEvent.__table__  # pyright: ignore[reportAttributeAccessIssue]
_tenants = Tenant.__table__  # pyright: ignore[reportAttributeAccessIssue]


def admin_actor(admin_identity_id: uuid.UUID) -> str:
    return f"platform:{admin_identity_id}"


async def create_workspace(
    store: Store, admin_identity_id: uuid.UUID, *, name: str, owner_email: str
) -> tenants.WorkspaceCreated:
    """A new workspace with its key and an owner invite, created by a platform admin."""
    actor = admin_actor(admin_identity_id)
    created = await tenants.create_workspace(store, name=name, owner_email=owner_email, actor=actor)
    async with store.tenant_session(created.tenant_id, actor, via="ui") as ts:
        await ts.db.execute(
            sa.insert(_events).values(
                tenant_id=ts.tenant_id,
                id=uuid.uuid4(),
                action="workspace.created",
                admin_identity_id=admin_identity_id,
            )
        )
    return created


async def retire_workspace(
    store: Store, admin_identity_id: uuid.UUID, tenant_id: uuid.UUID, *, confirm_name: str
) -> str:
    """Retire a workspace's key after the admin typed its exact name. Returns the key state.

    Retiring an already retired workspace finishes a key step that failed, without a new event
    (its trail can no longer be written).
    """
    async with store.dangerously_unscoped_session() as db:
        row = (
            await db.execute(
                sa.select(_tenants.c.name, _tenants.c.status).where(_tenants.c.id == tenant_id)
            )
        ).one_or_none()
    if row is None:
        raise NotFound("workspace", tenant_id)
    if confirm_name.strip() != row.name:
        raise InvalidInput("confirm_name: type the workspace's name exactly to retire its key")
    return await tenants.retire_workspace(
        store,
        tenant_id,
        actor=admin_actor(admin_identity_id),
        via="ui",
        admin_identity_id=admin_identity_id,
    )
