"""What happened with a record: log an activity, read the record's timeline."""

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel

from store.entities import BY_NAME
from store.errors import InvalidInput
from store.services import records
from store.tenancy import TenantSession

ACTIVITY = BY_NAME["activity"]
# Kinds of rows that hang off a record, each with the column that dates it.
TIMELINE = (("activity", "occurred_at"), ("note", "created_at"), ("task", "created_at"))


async def log_activity(
    ts: TenantSession,
    *,
    record_type: str,
    record_id: uuid.UUID,
    kind: str,
    subject: str | None,
    body: str | None,
    occurred_at: dt.datetime | None,
    owner_id: uuid.UUID | None,
    now: dt.datetime,
) -> BaseModel:
    """Record a call, meeting, email or note against a record (now, unless told when)."""
    if not (subject or body):
        raise InvalidInput("an activity needs a subject or a body")
    return await records.create_record(
        ts,
        ACTIVITY,
        {
            "record_type": record_type,
            "record_id": record_id,
            "kind": kind,
            "subject": subject,
            "body": body,
            "occurred_at": occurred_at or now,
            "owner_id": owner_id,
        },
    )


async def timeline(
    ts: TenantSession, record_type: str, record_id: uuid.UUID, *, limit: int = 20
) -> list[dict[str, Any]]:
    """Activities, notes and tasks about a record, newest first."""
    await records.get_record(ts, BY_NAME[record_type], record_id)
    entries: list[tuple[dt.datetime, dict[str, Any]]] = []
    for kind, when in TIMELINE:
        entity = BY_NAME[kind]
        table = entity.table
        found = await records.find_records(
            ts,
            entity,
            table.c.record_type == record_type,
            table.c.record_id == record_id,
            order_by=(table.c.created_at.desc(),),
            limit=limit,
        )
        for item in found:
            at = getattr(item, when, None) or item.created_at  # pyright: ignore[reportAttributeAccessIssue]
            entries.append((at, {"type": kind, "at": at, **_summary(item)}))
    entries.sort(key=lambda pair: pair[0], reverse=True)
    return [entry for _, entry in entries[:limit]]


def _summary(item: BaseModel) -> dict[str, Any]:
    return item.model_dump(
        exclude={"created_at", "updated_at", "version", "record_type", "record_id", "custom"},
        exclude_none=True,
    )
