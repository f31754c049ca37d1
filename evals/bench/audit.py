"""Audit trail benchmarks: what the trigger costs a write, and how fast a trail verifies.

`run_audit_benchmarks(ctx, quick)` returns rows shaped `{"name", "unit", "baseline", "flowgrid",
"ratio"}` (ratio = flowgrid / baseline, both measured in the same run):

- `audit.update_tx`: one-row UPDATE transactions per second through the app role, with the
  audit trigger (flowgrid) beside the same statement with the trigger disabled (baseline);
- `audit.insert_rows`: rows per second for multi-row INSERTs, the same way;
- `audit.verify`: events per second `verify_chain` recomputes, beside a plain read of the same
  trail in the same batches (baseline);
- `audit.export_jsonl`: events per second of a decrypted JSONL export, beside the same plain read.

`ctx` needs one attribute, `store`: a `store.runtime.Store` on the app role, whose
`urls.owner` is used for the owner-only steps. The baseline switches the audit trigger off with
`ALTER TABLE tags DISABLE TRIGGER audit_row`, which is table-wide: run this only against the
private, throwaway database the bench harness starts, never against one people use.
"""

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from evals.bench.rows import result_row
from store.audit.export import export_trail
from store.audit.reader import event_batches
from store.audit.verify import verify_chain
from store.runtime import Store
from store.services import tenants

ACTOR = "system:bench"
_SCOPE = text(
    "SELECT set_config('app.tenant_id', :tenant, true), set_config('app.actor', :actor, true)"
)
_INSERT_TAGS = text(
    "INSERT INTO tags (tenant_id, id, created_at, updated_at, version, color) "
    "SELECT :tenant, gen_random_uuid(), now(), now(), 1, '#000000' FROM generate_series(1, :n)"
)


async def run_audit_benchmarks(
    store: Store, *, updates: int, rows: int, trail: int
) -> list[dict[str, Any]]:
    """Audited writes beside the same writes with the trigger off, and trail read speeds."""
    owner = create_async_engine(store.urls.owner, poolclass=NullPool)
    try:
        audited = await _workspace(store, "bench audited")
        unaudited = await _workspace(store, "bench trigger off")
        results = [
            await _compare_writes(
                store, owner, "audit.update_tx", "transactions/s", audited, unaudited,
                lambda engine, tenant: _update_transactions(engine, tenant, updates),
            ),
            await _compare_writes(
                store, owner, "audit.insert_rows", "rows/s", audited, unaudited,
                lambda engine, tenant: _insert_rows(engine, tenant, rows),
            ),
        ]  # fmt: skip
        long_trail = await _workspace(store, "bench trail")
        await _insert_rows(store.engine, long_trail, trail)
        results.extend(await _read_speeds(store, long_trail))
        return results
    finally:
        await owner.dispose()


async def _workspace(store: Store, name: str) -> uuid.UUID:
    owner_email = f"bench-{uuid.uuid4().hex[:8]}@bench.invalid"
    created = await tenants.create_workspace(store, name=name, owner_email=owner_email, actor=ACTOR)
    return created.tenant_id


async def _compare_writes(
    store: Store,
    owner: AsyncEngine,
    name: str,
    unit: str,
    audited: uuid.UUID,
    unaudited: uuid.UUID,
    work: Callable[[AsyncEngine, uuid.UUID], Awaitable[float]],
) -> dict[str, Any]:
    flowgrid = await work(store.engine, audited)
    async with owner.begin() as conn:
        await conn.execute(text("ALTER TABLE tags DISABLE TRIGGER audit_row"))
    try:
        baseline = await work(store.engine, unaudited)
    finally:
        async with owner.begin() as conn:
            await conn.execute(text("ALTER TABLE tags ENABLE TRIGGER audit_row"))
    return result_row(name, unit, baseline, flowgrid)


async def _update_transactions(engine: AsyncEngine, tenant: uuid.UUID, count: int) -> float:
    """Transactions per second, each scoping itself and updating one row, as the app does."""
    scope = {"tenant": str(tenant), "actor": ACTOR}
    async with engine.begin() as conn:
        await conn.execute(_SCOPE, scope)
        tag_id = (
            await conn.execute(
                text(_INSERT_TAGS.text + " RETURNING id"), {"tenant": tenant, "n": 1}
            )
        ).scalar_one()
    update = text("UPDATE tags SET color = :color WHERE tenant_id = :tenant AND id = :id")
    started = time.perf_counter()
    for n in range(count):
        async with engine.begin() as conn:
            await conn.execute(_SCOPE, scope)
            await conn.execute(
                update, {"color": f"#{n % 0xFFFFFF:06x}", "tenant": tenant, "id": tag_id}
            )
    return count / (time.perf_counter() - started)


async def _insert_rows(
    engine: AsyncEngine, tenant: uuid.UUID, count: int, batch: int = 1000
) -> float:
    """Rows per second for INSERT ... SELECT of `batch` rows per transaction."""
    scope = {"tenant": str(tenant), "actor": ACTOR}
    started = time.perf_counter()
    for done in range(0, count, batch):
        async with engine.begin() as conn:
            await conn.execute(_SCOPE, scope)
            await conn.execute(_INSERT_TAGS, {"tenant": tenant, "n": min(batch, count - done)})
    return count / (time.perf_counter() - started)


async def _read_speeds(store: Store, tenant: uuid.UUID) -> list[dict[str, Any]]:
    started = time.perf_counter()
    async with store.tenant_session(tenant, ACTOR, via="system") as ts:
        events = sum([len(batch) async for batch in event_batches(ts)])
    plain = events / (time.perf_counter() - started)

    started = time.perf_counter()
    result = await verify_chain(store, tenant, actor=ACTOR, via="system")
    verify = result.events / (time.perf_counter() - started)
    if not result.ok:
        raise RuntimeError(f"the benchmark trail does not verify: {result.reason}")

    started = time.perf_counter()
    lines = 0
    async for _ in export_trail(store, tenant, actor=ACTOR, via="system"):
        lines += 1
    export = (lines - 2) / (time.perf_counter() - started)
    return [
        result_row("audit.verify", "events/s", plain, verify),
        result_row("audit.export_jsonl", "events/s", plain, export),
    ]
