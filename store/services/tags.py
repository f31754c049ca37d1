"""Tags on records: put a tag (by name, created on first use) on a record, or take it off."""

import uuid
from typing import Any

import sqlalchemy as sa

from store.entities import BY_NAME
from store.errors import InvalidInput
from store.models import Tagging
from store.models.work import RECORD_TYPES
from store.services import records
from store.services.access import require_role
from store.tenancy import TenantSession

TAG = BY_NAME["tag"]
_taggings = Tagging.__table__  # pyright: ignore[reportAttributeAccessIssue]


async def find_tag(ts: TenantSession, name: str) -> Any | None:
    """The tag with this name (exact, case- and space-insensitive), if there is one."""
    clean = _clean(name)
    page = await records.list_records(ts, TAG, filters={"name": clean}, limit=1)
    return page.items[0] if page.items else None


async def tag_record(
    ts: TenantSession, record_type: str, record_id: uuid.UUID, name: str
) -> dict[str, Any]:
    """Put the tag on the record; creating the tag if it does not exist yet. Idempotent."""
    require_role(ts, "member", to="tag records")
    await _target(ts, record_type, record_id)
    tag: Any = await find_tag(ts, name)
    if tag is None:
        tag = await records.create_record(ts, TAG, {"name": _clean(name)})
    existing = await _tagging(ts, tag.id, record_id)
    if existing is None:
        await ts.db.execute(
            sa.insert(_taggings).values(
                tenant_id=ts.tenant_id,
                id=uuid.uuid4(),
                tag_id=tag.id,
                record_type=record_type,
                record_id=record_id,
            )
        )
    return {
        "tag": tag,
        "record_type": record_type,
        "record_id": record_id,
        "added": existing is None,
    }


async def untag_record(
    ts: TenantSession, record_type: str, record_id: uuid.UUID, name: str
) -> dict[str, Any]:
    """Take the tag off the record (the tag itself stays). Idempotent."""
    require_role(ts, "member", to="untag records")
    await _target(ts, record_type, record_id)
    tag: Any = await find_tag(ts, name)
    removed = 0
    if tag is not None:
        result = await ts.db.execute(
            sa.delete(_taggings).where(
                _taggings.c.tenant_id == ts.tenant_id,
                _taggings.c.tag_id == tag.id,
                _taggings.c.record_id == record_id,
            )
        )
        removed = int(result.rowcount)  # pyright: ignore[reportAttributeAccessIssue]
    return {"tag": name, "record_type": record_type, "record_id": record_id, "removed": removed > 0}


async def _tagging(ts: TenantSession, tag_id: uuid.UUID, record_id: uuid.UUID) -> Any:
    row = await ts.db.execute(
        sa.select(_taggings.c.id).where(
            _taggings.c.tenant_id == ts.tenant_id,
            _taggings.c.tag_id == tag_id,
            _taggings.c.record_id == record_id,
        )
    )
    return row.first()


async def _target(ts: TenantSession, record_type: str, record_id: uuid.UUID) -> None:
    if record_type not in RECORD_TYPES:
        raise InvalidInput(f"record_type must be one of {RECORD_TYPES}")
    await records.get_record(ts, BY_NAME[record_type], record_id)


def _clean(name: str) -> str:
    clean = " ".join(name.split())
    if not 1 <= len(clean) <= 60:
        raise InvalidInput("a tag name is 1 to 60 characters")
    return clean
