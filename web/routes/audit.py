"""`/api/audit`: the workspace's trail for its admins and owners: browse, verify, export.

Reads go through the app role inside the workspace's tenant session, so row-level security
bounds them like everything else; values are decrypted for the admin who asks.
"""

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import Field

from store.audit.export import export_trail
from store.audit.opener import EventOpener
from store.audit.reader import newest_events
from store.audit.verify import verify_session
from store.errors import MalformedCursor
from web.deps import AdminSession, StoreDep
from web.routes.schemas import Strict, errors

router = APIRouter(tags=["audit"])

_MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


class AuditPage(Strict):
    items: list[dict[str, Any]] = Field(description="Events, newest first, values decrypted")
    next_cursor: str | None = None


class Verification(Strict):
    ok: bool
    events: int
    first_bad_seq: int | None
    reason: str | None


@router.get(
    "/api/audit",
    summary="Browse the audit trail (newest first), or one record's history",
    responses=errors(400, 401, 403),
)
async def list_audit_events(
    ts: AdminSession,
    record_id: uuid.UUID | None = None,
    limit: int = Query(default=20, ge=1, le=100),
    cursor: str | None = None,
) -> AuditPage:
    before: int | None = None
    if cursor is not None:
        if not cursor.isdigit():
            raise MalformedCursor("cursor is malformed; pass back the next_cursor you were given")
        before = int(cursor)
    stored = await newest_events(ts, before_seq=before, record_id=record_id, limit=limit + 1)
    page = stored[:limit]
    items = await EventOpener(ts).open(page)
    more = len(stored) > limit
    return AuditPage(items=items, next_cursor=str(page[-1].seq) if more and page else None)


@router.get(
    "/api/audit/verify",
    summary="Recompute the hash chain and check the signed checkpoints",
    responses=errors(401, 403),
)
async def verify_audit_trail(ts: AdminSession) -> Verification:
    return Verification(**(await verify_session(ts)).as_json())


@router.get(
    "/api/audit/export",
    summary="Export the full decrypted trail, streamed (JSONL or CSV)",
    description="Verifies the chain while streaming and signs a checkpoint of the exported head. "
    "CSV cells that a spreadsheet would run as a formula are neutralised.",
    responses=errors(401, 403),
)
async def export_audit_trail(
    ts: AdminSession, store: StoreDep, format: Literal["jsonl", "csv"] = "jsonl"
) -> StreamingResponse:
    lines = export_trail(store, ts.tenant_id, fmt=format, actor=ts.actor, via=ts.via)
    filename = f"flowgrid-audit-{ts.tenant_id}.{format}"
    return StreamingResponse(
        lines,
        media_type=_MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
