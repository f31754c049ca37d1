"""Who is responsible for a record: the team as the assistant may see it, and owner changes."""

import uuid
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from store.entities import BY_NAME, Entity
from store.errors import InvalidInput, NotFound
from store.models import Identity, Member
from store.models.work import RECORD_TYPES
from store.services import records
from store.tenancy import TenantSession

MEMBER = Entity("member", "members", Member)
# The field that says who is responsible for a record, in order of preference.
OWNER_FIELDS = ("owner_id", "assignee_id")
_identities = Identity.__table__  # pyright: ignore[reportAttributeAccessIssue]


async def team(ts: TenantSession) -> list[dict[str, Any]]:
    """Everyone in the workspace: id, display name, work email and role."""
    table = MEMBER.table
    rows = await ts.db.execute(
        sa.select(table, _identities.c.email)
        .join(_identities, _identities.c.id == table.c.identity_id)
        .where(table.c.tenant_id == ts.tenant_id)
        .order_by(table.c.created_at, table.c.id)
    )
    opened = await ts.sealer.open_rows(ts, MEMBER, [dict(r._mapping) for r in rows])
    return [
        {"id": m["id"], "name": m["display_name"], "email": m["email"], "role": m["role"]}
        for m in opened
    ]


def owner_field(entity: Entity) -> str:
    for name in OWNER_FIELDS:
        spec = entity.field_map.get(name)
        if spec is not None and spec.references == "members":
            return name
    raise InvalidInput(f"{entity.plural} have no owner")


async def assign_owner(
    ts: TenantSession, record_type: str, record_id: uuid.UUID, member_id: uuid.UUID
) -> BaseModel:
    """Make a team member the owner (or assignee) of a record."""
    if record_type not in RECORD_TYPES:
        raise InvalidInput(f"record_type must be one of {RECORD_TYPES}")
    entity = BY_NAME[record_type]
    field = owner_field(entity)
    if member_id not in {m["id"] for m in await team(ts)}:
        raise NotFound("team member", member_id)
    return await records.update_record(ts, entity, record_id, {field: member_id})
