"""Merge duplicate records (contacts, companies): one survives, the other's links move to it.

The survivor keeps its own values and takes the duplicate's where it has none (custom fields
likewise, key by key). Everything that pointed at the duplicate is re-pointed: foreign keys
declared with `reference(...)`, and the rows that link to any record by `record_id` (activities,
tasks, notes, tags, list entries), dropping a link the survivor already has. Then the duplicate
is deleted. Each step is an ordinary audited write, so the merge can be undone from the trail.
Merging contacts also ties the duplicate's subject key to the survivor, so erasing the person
later shreds what was written about them under either record.
"""

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from store.entities import BY_TABLE, Entity
from store.errors import InvalidInput
from store.models import metadata, tenant_tables
from store.models.base import KeyedBy, keyed_by
from store.services import records
from store.services.access import require_role
from store.tenancy import TenantSession

# Tables whose rows point at a record of any kind through `record_id` (and maybe `record_type`).
LINK_TABLES = ("activities", "tasks", "notes", "taggings", "list_memberships")
# Tables with a record_id that a merge leaves alone: search tokens are derived and die with the
# duplicate; the audit trail is history (and append-only); an approval request stays about the
# contact it was asked about (the merge ties that contact's key to the survivor, and erasing
# the survivor deletes the approvals of the contacts merged into it).
NOT_LINKS = ("search_tokens", "audit_events", "approval_requests")


@dataclass(frozen=True)
class MergePlan:
    primary: BaseModel
    duplicate: BaseModel
    fill: dict[str, Any]
    moves: dict[str, int]

    def preview(self) -> dict[str, Any]:
        return {
            "keep": self.primary.model_dump(mode="json", exclude_none=True),
            "remove": self.duplicate.model_dump(mode="json", exclude_none=True),
            "fields_taken_from_duplicate": self.fill,
            "links_moved": self.moves,
        }


async def plan_merge(
    ts: TenantSession, entity: Entity, primary_id: uuid.UUID, duplicate_id: uuid.UUID
) -> MergePlan:
    """What merging would change, without changing anything."""
    if primary_id == duplicate_id:
        raise InvalidInput("a record cannot be merged into itself")
    primary = await records.get_record(ts, entity, primary_id)
    duplicate = await records.get_record(ts, entity, duplicate_id)
    fill = _fill(entity, primary, duplicate)
    moves: dict[str, int] = {}
    for table, column in _references_to(entity):
        moves[f"{table.name}.{column}"] = await _count(ts, table, table.c[column] == duplicate_id)
    for table in _link_tables():
        moves[table.name] = await _count(ts, table, *_links_to(table, entity, duplicate_id))
    return MergePlan(primary, duplicate, fill, {k: v for k, v in moves.items() if v})


async def merge_records(
    ts: TenantSession, entity: Entity, primary_id: uuid.UUID, duplicate_id: uuid.UUID
) -> dict[str, Any]:
    """Merge `duplicate_id` into `primary_id` and delete the duplicate."""
    require_role(ts, "member", to=f"merge {entity.plural}")
    plan = await plan_merge(ts, entity, primary_id, duplicate_id)
    for table, column in _references_to(entity):
        await ts.db.execute(
            sa.update(table)
            .where(table.c.tenant_id == ts.tenant_id, table.c[column] == duplicate_id)
            .values({column: primary_id})
        )
    for table in _link_tables():
        await _drop_clashing_links(ts, table, entity, primary_id, duplicate_id)
        if keyed_by(table) is KeyedBy.LINKED_CONTACT:
            await _relink_each(ts, table, entity, primary_id, duplicate_id)
            continue
        await ts.db.execute(
            sa.update(table)
            .where(table.c.tenant_id == ts.tenant_id, *_links_to(table, entity, duplicate_id))
            .values(record_id=primary_id)
        )
    if plan.fill:
        await records.update_record(ts, entity, primary_id, plan.fill)
    if entity.subject_keyed:
        await ts.sealer.keyring.merge_subject_keys(ts, duplicate_id, primary_id)
    await records.delete_record(ts, entity, duplicate_id)
    merged = await records.get_record(ts, entity, primary_id)
    return {"merged": merged, "removed_id": duplicate_id, "links_moved": plan.moves}


def _fill(entity: Entity, primary: BaseModel, duplicate: BaseModel) -> dict[str, Any]:
    fill: dict[str, Any] = {}
    for spec in entity.fields:
        mine, theirs = getattr(primary, spec.name), getattr(duplicate, spec.name)
        if spec.json and isinstance(theirs, dict):
            combined = {**theirs, **(mine or {})}
            if combined != (mine or {}):
                fill[spec.name] = combined
        elif mine is None and theirs is not None:
            fill[spec.name] = theirs
    return fill


def _references_to(entity: Entity) -> list[tuple[sa.Table, str]]:
    """(table, column) of every declared reference to the entity's table."""
    found = []
    for name in tenant_tables():
        table = metadata.tables[name]
        for column in table.columns:
            if column.info.get("references") == entity.table_name:
                found.append((table, column.name))
    return found


def _link_tables() -> list[sa.Table]:
    return [metadata.tables[name] for name in LINK_TABLES]


def _links_to(table: sa.Table, entity: Entity, record_id: uuid.UUID) -> list[Any]:
    conditions: list[Any] = [table.c.record_id == record_id]
    if "record_type" in table.c:
        conditions.append(table.c.record_type == entity.name)
    return conditions


async def _drop_clashing_links(
    ts: TenantSession,
    table: sa.Table,
    entity: Entity,
    primary_id: uuid.UUID,
    duplicate_id: uuid.UUID,
) -> None:
    """Delete the duplicate's links that the survivor already has (unique constraints)."""
    for constraint in table.constraints:
        if not isinstance(constraint, sa.UniqueConstraint):
            continue
        columns = {c.name for c in constraint.columns}
        if "record_id" not in columns:
            continue
        others = columns - {"tenant_id", "record_id"}
        kept = table.alias("kept")
        clash = sa.exists().where(
            kept.c.tenant_id == table.c.tenant_id,
            kept.c.record_id == primary_id,
            *[kept.c[c] == table.c[c] for c in others],
        )
        await ts.db.execute(
            sa.delete(table).where(
                table.c.tenant_id == ts.tenant_id,
                *_links_to(table, entity, duplicate_id),
                clash,
            )
        )


async def _relink_each(
    ts: TenantSession,
    table: sa.Table,
    entity: Entity,
    primary_id: uuid.UUID,
    duplicate_id: uuid.UUID,
) -> None:
    """Re-point rows whose key follows their link one by one, so each is re-sealed for the
    survivor (a raw update would leave them sealed under the duplicate's subject key)."""
    found = await ts.db.execute(
        sa.select(table.c.id).where(
            table.c.tenant_id == ts.tenant_id, *_links_to(table, entity, duplicate_id)
        )
    )
    link = {"record_type": entity.name, "record_id": primary_id}
    for (row_id,) in found.all():
        await records.update_record(ts, BY_TABLE[table.name], row_id, link)


async def _count(ts: TenantSession, table: sa.Table, *conditions: Any) -> int:
    query = sa.select(sa.func.count()).select_from(table)
    query = query.where(table.c.tenant_id == ts.tenant_id, *conditions)
    return int((await ts.db.execute(query)).scalar_one())
