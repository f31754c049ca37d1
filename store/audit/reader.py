"""Read a workspace's audit events in seq order, a batch at a time (keyset on the primary key).

Nothing here holds more than one batch: a trail of millions of events streams through verify
and export in constant memory. `before`/`after` come back as PostgreSQL's own jsonb text so the
verifier hashes exactly what the trigger hashed.
"""

import uuid
from collections.abc import AsyncGenerator
from typing import Any

from sqlalchemy import text

from store.audit.chain import StoredEvent
from store.tenancy import TenantSession

DEFAULT_BATCH = 2000

_COLUMNS = """seq, id, at, (extract(epoch FROM at) * 1000000)::bigint AS at_us, actor, via,
    run_id, tool_call_id, action, table_name, record_id, before::text AS before,
    after::text AS after, prev_hash, hash"""


async def event_batches(
    ts: TenantSession,
    *,
    after_seq: int = 0,
    through_seq: int | None = None,
    record_id: uuid.UUID | None = None,
    batch: int = DEFAULT_BATCH,
) -> AsyncGenerator[list[StoredEvent], None]:
    """Events with `after_seq < seq <= through_seq` (optionally about one record), in order."""
    conditions = ["tenant_id = :tenant", "seq > :after"]
    if through_seq is not None:
        conditions.append("seq <= :through")
    if record_id is not None:
        conditions.append("record_id = :record")
    query = text(
        f"SELECT {_COLUMNS} FROM audit_events WHERE {' AND '.join(conditions)} "
        "ORDER BY seq LIMIT :limit"
    )
    last = after_seq
    while True:
        params = {
            "tenant": ts.tenant_id,
            "after": last,
            "through": through_seq,
            "record": record_id,
            "limit": batch,
        }
        rows = (await ts.db.execute(query, params)).all()
        if not rows:
            return
        yield [_stored(ts, r) for r in rows]
        if len(rows) < batch:
            return
        last = rows[-1].seq


async def newest_events(
    ts: TenantSession,
    *,
    before_seq: int | None = None,
    record_id: uuid.UUID | None = None,
    limit: int = 20,
) -> list[StoredEvent]:
    """One page of events, newest first: those with `seq < before_seq` (about one record)."""
    conditions = ["tenant_id = :tenant"]
    if before_seq is not None:
        conditions.append("seq < :before")
    if record_id is not None:
        conditions.append("record_id = :record")
    query = text(
        f"SELECT {_COLUMNS} FROM audit_events WHERE {' AND '.join(conditions)} "
        "ORDER BY seq DESC LIMIT :limit"
    )
    params = {"tenant": ts.tenant_id, "before": before_seq, "record": record_id, "limit": limit}
    return [_stored(ts, r) for r in (await ts.db.execute(query, params)).all()]


def _stored(ts: TenantSession, r: Any) -> StoredEvent:
    return StoredEvent(
        tenant_id=ts.tenant_id,
        seq=r.seq,
        id=r.id,
        at=r.at,
        at_us=r.at_us,
        actor=r.actor,
        via=r.via,
        run_id=r.run_id,
        tool_call_id=r.tool_call_id,
        action=r.action,
        table_name=r.table_name,
        record_id=r.record_id,
        before=r.before,
        after=r.after,
        prev_hash=bytes(r.prev_hash),
        hash=bytes(r.hash),
    )


async def chain_head(ts: TenantSession) -> tuple[int, bytes] | None:
    """(seq, hash) the trigger last wrote for this workspace, from `audit_heads`."""
    row = (
        await ts.db.execute(
            text("SELECT seq, hash FROM audit_heads WHERE tenant_id = :tenant"),
            {"tenant": ts.tenant_id},
        )
    ).one_or_none()
    return None if row is None or row.seq == 0 else (row.seq, bytes(row.hash))


async def last_seq(ts: TenantSession) -> int:
    """The highest seq stored for this workspace (0 for none)."""
    query = text("SELECT coalesce(max(seq), 0) FROM audit_events WHERE tenant_id = :tenant")
    return int((await ts.db.execute(query, {"tenant": ts.tenant_id})).scalar_one())
