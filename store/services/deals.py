"""Deals through their pipeline: move between stages, close as won or lost.

A stage says what reaching it means (`outcome`: open, won or lost), so moving a deal into the
"Won" stage and marking it won are the same change: stage, status and close date stay in step.
"""

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel

from store.entities import BY_NAME
from store.errors import InvalidInput
from store.services import records
from store.tenancy import TenantSession

DEAL = BY_NAME["deal"]
STAGE = BY_NAME["stage"]
PIPELINE = BY_NAME["pipeline"]


async def move_to_stage(
    ts: TenantSession,
    deal_id: uuid.UUID,
    stage: str,
    *,
    expected_version: int | None = None,
    today: dt.date | None = None,
) -> BaseModel:
    """Put a deal in a stage (by id or name); a won or lost stage also closes the deal."""
    deal: Any = await records.get_record(ts, DEAL, deal_id)
    target: Any = await resolve_stage(ts, stage, pipeline_id=deal.pipeline_id)
    changes: dict[str, Any] = {
        "stage_id": target.id,
        "pipeline_id": target.pipeline_id,
        "status": target.outcome,
    }
    if target.outcome != "open" and deal.close_date is None:
        changes["close_date"] = today or dt.date.today()
    return await records.update_record(
        ts, DEAL, deal_id, changes, expected_version=expected_version
    )


async def close_deal(
    ts: TenantSession,
    deal_id: uuid.UUID,
    outcome: str,
    *,
    reason: str | None = None,
    close_date: dt.date | None = None,
    expected_version: int | None = None,
) -> BaseModel:
    """Mark a deal won or lost, moving it to its pipeline's stage for that outcome if it has one."""
    if outcome not in ("won", "lost"):
        raise InvalidInput("outcome must be won or lost")
    deal: Any = await records.get_record(ts, DEAL, deal_id)
    changes: dict[str, Any] = {"status": outcome, "close_date": close_date or dt.date.today()}
    pipeline_id = deal.pipeline_id or await default_pipeline_id(ts)
    if pipeline_id is not None:
        closing = [s for s in await stages_of(ts, pipeline_id) if s.outcome == outcome]
        if closing:
            changes.update(stage_id=closing[0].id, pipeline_id=pipeline_id)
    if outcome == "lost":
        changes["lost_reason"] = reason
    return await records.update_record(
        ts, DEAL, deal_id, changes, expected_version=expected_version
    )


async def resolve_stage(
    ts: TenantSession, stage: str, *, pipeline_id: uuid.UUID | None
) -> BaseModel:
    """A stage by id, or by name (case-insensitive) in the deal's (or the default) pipeline."""
    try:
        return await records.get_record(ts, STAGE, uuid.UUID(stage))
    except ValueError:
        pass
    pipeline_id = pipeline_id or await default_pipeline_id(ts)
    if pipeline_id is None:
        raise InvalidInput("the workspace has no pipeline; create one with its stages first")
    candidates = await stages_of(ts, pipeline_id)
    wanted = stage.strip().casefold()
    for candidate in candidates:
        if str(getattr(candidate, "name", "")).casefold() == wanted:
            return candidate
    names = ", ".join(str(getattr(c, "name", "")) for c in candidates)
    raise InvalidInput(f"no stage named {stage!r} in the deal's pipeline; stages: {names}")


async def stages_of(ts: TenantSession, pipeline_id: uuid.UUID) -> list[Any]:
    table = STAGE.table
    return await records.find_records(
        ts, STAGE, table.c.pipeline_id == pipeline_id, order_by=(table.c.position, table.c.id)
    )


async def default_pipeline_id(ts: TenantSession) -> uuid.UUID | None:
    table = PIPELINE.table
    found: list[Any] = await records.find_records(
        ts,
        PIPELINE,
        order_by=(table.c.is_default.desc(), table.c.created_at),
        limit=1,
    )
    return found[0].id if found else None
