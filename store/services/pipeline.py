"""Reports over the sales pipeline: its shape, where the money sits, the forecast, stale deals.

Amounts, stages and dates are plaintext columns, so the database aggregates them; only names
(sealed) are decrypted, and only for the rows a report shows.
"""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from store.entities import BY_NAME
from store.errors import InvalidInput
from store.services import records
from store.services.deals import default_pipeline_id, stages_of
from store.tenancy import TenantSession

DEAL = BY_NAME["deal"]
PIPELINE = BY_NAME["pipeline"]
_deals = DEAL.table
_stages = BY_NAME["stage"].table


async def list_pipelines(ts: TenantSession) -> list[dict[str, Any]]:
    """Every pipeline with its stages in order."""
    pipelines: list[Any] = await records.find_records(
        ts, PIPELINE, order_by=(PIPELINE.table.c.created_at, PIPELINE.table.c.id)
    )
    return [
        {
            "id": p.id,
            "name": p.name,
            "is_default": p.is_default,
            "stages": [
                {"id": s.id, "name": s.name, "probability": s.probability, "outcome": s.outcome}
                for s in await stages_of(ts, p.id)
            ],
        }
        for p in pipelines
    ]


async def summary(ts: TenantSession, pipeline_id: uuid.UUID | None = None) -> dict[str, Any]:
    """Per stage of a pipeline: how many deals and how much money, by currency."""
    pipeline_id = await _pipeline(ts, pipeline_id)
    stages = await stages_of(ts, pipeline_id)
    query = (
        sa.select(
            _deals.c.stage_id,
            _deals.c.currency,
            sa.func.count().label("deals"),
            sa.func.coalesce(sa.func.sum(_deals.c.amount), 0).label("amount"),
        )
        .where(_deals.c.tenant_id == ts.tenant_id, _deals.c.pipeline_id == pipeline_id)
        .group_by(_deals.c.stage_id, _deals.c.currency)
    )
    totals: dict[Any, dict[str, Any]] = {}
    for row in (await ts.db.execute(query)).all():
        slot = totals.setdefault(row.stage_id, {"deals": 0, "amount": {}})
        slot["deals"] += row.deals
        slot["amount"][row.currency] = row.amount
    rows = [
        {
            "stage_id": s.id,
            "stage": s.name,
            "outcome": s.outcome,
            "probability": s.probability,
            **totals.pop(s.id, {"deals": 0, "amount": {}}),
        }
        for s in stages
    ]
    if totals:
        unstaged = {"deals": 0, "amount": {}}
        for slot in totals.values():
            unstaged["deals"] += slot["deals"]
            for currency, amount in slot["amount"].items():
                unstaged["amount"][currency] = unstaged["amount"].get(currency, 0) + amount
        rows.append({"stage_id": None, "stage": "(no stage)", **unstaged})
    return {"pipeline_id": pipeline_id, "stages": rows}


def current_quarter(today: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day of the calendar quarter `today` is in."""
    first = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    following = dt.date(first.year + (first.month == 10), (first.month + 2) % 12 + 1, 1)
    return first, following - dt.timedelta(days=1)


async def forecast(
    ts: TenantSession,
    *,
    today: dt.date,
    start: dt.date | None = None,
    end: dt.date | None = None,
    pipeline_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Won so far and probability-weighted open value of deals closing in [start, end]
    (the current quarter by default)."""
    quarter_start, quarter_end = current_quarter(today)
    start, end = start or quarter_start, end or quarter_end
    if end < start:
        raise InvalidInput("end must not be before start")
    if (end - start).days > 3660:
        raise InvalidInput("a forecast period can be at most ten years")
    probability = sa.func.coalesce(_stages.c.probability, 0)
    query = (
        sa.select(
            _deals.c.currency,
            _deals.c.status,
            sa.func.count().label("deals"),
            sa.func.coalesce(sa.func.sum(_deals.c.amount), 0).label("amount"),
            sa.func.coalesce(sa.func.sum(_deals.c.amount * probability / 100), 0).label("weighted"),
        )
        .select_from(
            _deals.outerjoin(
                _stages,
                sa.and_(
                    _stages.c.tenant_id == _deals.c.tenant_id, _stages.c.id == _deals.c.stage_id
                ),
            )
        )
        .where(
            _deals.c.tenant_id == ts.tenant_id,
            _deals.c.close_date.between(start, end),
            _deals.c.status.in_(("open", "won")),
        )
        .group_by(_deals.c.currency, _deals.c.status)
    )
    if pipeline_id is not None:
        query = query.where(_deals.c.pipeline_id == pipeline_id)
    by_currency: dict[str, dict[str, Any]] = {}
    for row in (await ts.db.execute(query)).all():
        slot = by_currency.setdefault(
            row.currency,
            {"won": Decimal(0), "weighted_open": Decimal(0), "open_total": Decimal(0), "deals": 0},
        )
        slot["deals"] += row.deals
        if row.status == "won":
            slot["won"] += row.amount
        else:
            slot["open_total"] += row.amount
            slot["weighted_open"] += row.weighted
    for slot in by_currency.values():
        slot["weighted_open"] = Decimal(slot["weighted_open"]).quantize(Decimal("0.01"))
        slot["expected"] = slot["won"] + slot["weighted_open"]
    return {"start": start, "end": end, "pipeline_id": pipeline_id, "by_currency": by_currency}


async def stale_deals(
    ts: TenantSession, *, days: int, now: dt.datetime, limit: int = 20
) -> list[Any]:
    """Open deals nobody has changed for `days` days, oldest first."""
    if not 1 <= days <= 3650:
        raise InvalidInput("days must be between 1 and 3650")
    cutoff = now - dt.timedelta(days=days)
    return await records.find_records(
        ts,
        DEAL,
        _deals.c.status == "open",
        _deals.c.updated_at < cutoff,
        order_by=(_deals.c.updated_at, _deals.c.id),
        limit=limit,
    )


async def _pipeline(ts: TenantSession, pipeline_id: uuid.UUID | None) -> uuid.UUID:
    if pipeline_id is not None:
        await records.get_record(ts, PIPELINE, pipeline_id)
        return pipeline_id
    found = await default_pipeline_id(ts)
    if found is None:
        raise InvalidInput("the workspace has no pipeline yet")
    return found
