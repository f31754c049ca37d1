"""Hand-curated lists of records of one kind: add records, remove them, read them back."""

import uuid
from typing import Any

import sqlalchemy as sa

from store.entities import BY_NAME
from store.errors import InvalidInput
from store.models import ListMembership
from store.services import records
from store.services.access import require_role
from store.tenancy import TenantSession

LIST = BY_NAME["list"]
MAX_BATCH = 100
_memberships = ListMembership.__table__  # pyright: ignore[reportAttributeAccessIssue]


async def add_to_list(
    ts: TenantSession, list_id: uuid.UUID, record_ids: list[uuid.UUID]
) -> dict[str, Any]:
    """Add records (of the list's kind) to a list; records already in it are skipped."""
    require_role(ts, "member", to="change lists")
    the_list, ids = await _list_and_ids(ts, list_id, record_ids)
    member_entity = BY_NAME[the_list.member_type]
    found: list[Any] = await records.find_records(
        ts, member_entity, member_entity.table.c.id.in_(ids), limit=MAX_BATCH
    )
    missing = set(ids) - {r.id for r in found}
    if missing:
        raise InvalidInput(
            f"this list holds {member_entity.plural}; no {member_entity.title} with id "
            f"{sorted(map(str, missing))[0]} in this workspace"
        )
    present = await _present(ts, list_id, ids)
    new = [i for i in ids if i not in present]
    if new:
        await ts.db.execute(
            sa.insert(_memberships),
            [
                {"tenant_id": ts.tenant_id, "id": uuid.uuid4(), "list_id": list_id, "record_id": i}
                for i in new
            ],
        )
    return {"list_id": list_id, "added": new, "already_there": sorted(present, key=str)}


async def remove_from_list(
    ts: TenantSession, list_id: uuid.UUID, record_ids: list[uuid.UUID]
) -> dict[str, Any]:
    """Take records out of a list; the records themselves stay."""
    require_role(ts, "member", to="change lists")
    _, ids = await _list_and_ids(ts, list_id, record_ids)
    result = await ts.db.execute(
        sa.delete(_memberships)
        .where(
            _memberships.c.tenant_id == ts.tenant_id,
            _memberships.c.list_id == list_id,
            _memberships.c.record_id.in_(ids),
        )
        .returning(_memberships.c.record_id)
    )
    removed = [r.record_id for r in result]
    return {
        "list_id": list_id,
        "removed": removed,
        "not_in_list": [i for i in ids if i not in removed],
    }


async def list_entries(
    ts: TenantSession, list_id: uuid.UUID, *, limit: int = 20, offset: int = 0
) -> dict[str, Any]:
    """The records in a list, oldest entry first."""
    if not 1 <= limit <= records.MAX_LIMIT or offset < 0:
        raise InvalidInput(f"limit must be between 1 and {records.MAX_LIMIT}")
    the_list: Any = await records.get_record(ts, LIST, list_id)
    member_entity = BY_NAME[the_list.member_type]
    rows = await ts.db.execute(
        sa.select(_memberships.c.record_id)
        .where(_memberships.c.tenant_id == ts.tenant_id, _memberships.c.list_id == list_id)
        .order_by(_memberships.c.created_at, _memberships.c.id)
        .offset(offset)
        .limit(limit + 1)
    )
    ids = [r.record_id for r in rows]
    found: list[Any] = await records.find_records(
        ts, member_entity, member_entity.table.c.id.in_(ids[:limit]), limit=limit
    )
    order = {record_id: n for n, record_id in enumerate(ids)}
    return {
        "list": the_list,
        "member_type": the_list.member_type,
        "items": sorted(found, key=lambda r: order[r.id]),
        "next_offset": offset + limit if len(ids) > limit else None,
    }


async def _list_and_ids(
    ts: TenantSession, list_id: uuid.UUID, record_ids: list[uuid.UUID]
) -> tuple[Any, list[uuid.UUID]]:
    ids = list(dict.fromkeys(record_ids))
    if not 1 <= len(ids) <= MAX_BATCH:
        raise InvalidInput(f"give 1 to {MAX_BATCH} record ids")
    return await records.get_record(ts, LIST, list_id), ids


async def _present(ts: TenantSession, list_id: uuid.UUID, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await ts.db.execute(
        sa.select(_memberships.c.record_id).where(
            _memberships.c.tenant_id == ts.tenant_id,
            _memberships.c.list_id == list_id,
            _memberships.c.record_id.in_(ids),
        )
    )
    return {r.record_id for r in rows}
