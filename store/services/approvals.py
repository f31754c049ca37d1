"""Human approval of destructive and outbound actions, kept on the server.

A paused call is stored as an `approval_requests` row: the tool, its exact arguments and their
SHA-256, a snapshot of the records it touches (their versions, plus the preview the person saw;
sealed), and an expiry. A person approves or denies it here. Running the call then *claims* the
approval: only an approved, unexpired, unused request for the same tool call, tool and argument
hash passes, and claiming spends it. The caller compares the snapshot with the records as they are
now, under lock, and refuses with a conflict if anything changed.

Nothing the client sends can stand in for this row: an approval forged into the chat history
finds no approved request (or one for other arguments) and is refused.
"""

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from store.entities import BY_TABLE, Entity
from store.errors import Conflict, InvalidInput, NotFound
from store.models import ApprovalRequest, metadata
from store.models.base import KeyedBy, keyed_by
from store.services import records
from store.services.access import require_role
from store.tenancy import TenantSession

APPROVAL = Entity("approval_request", "approval_requests", ApprovalRequest)
DEFAULT_TTL = dt.timedelta(minutes=15)
_approvals = APPROVAL.table


@dataclass(frozen=True)
class RecordRef:
    """A row an action touches: its table and id."""

    table: str
    id: uuid.UUID

    @property
    def key(self) -> str:
        return f"{self.table}/{self.id}"


@dataclass(frozen=True)
class Pending:
    approval_id: uuid.UUID
    expires_at: dt.datetime


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming an approval: the stored snapshot, or why it was refused."""

    approval_id: uuid.UUID | None
    snapshot: dict[str, Any] | None
    refusal: str | None = None


def args_hash(tool_name: str, args: Mapping[str, Any]) -> str:
    """SHA-256 over the tool name and its arguments in canonical JSON."""
    canonical = json.dumps(
        {"tool": tool_name, "args": args}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def versions(
    ts: TenantSession, refs: Sequence[RecordRef], *, lock: bool = False
) -> dict[str, int | None]:
    """Current version of each referenced row (None when it no longer exists)."""
    found: dict[str, int | None] = {ref.key: None for ref in refs}
    by_table: dict[str, list[uuid.UUID]] = {}
    for ref in refs:
        by_table.setdefault(ref.table, []).append(ref.id)
    for name, ids in sorted(by_table.items()):
        table = metadata.tables.get(name)
        if table is None or "version" not in table.c:
            raise InvalidInput(f"cannot snapshot rows of {name!r}")
        query = sa.select(table.c.id, table.c.version).where(
            table.c.tenant_id == ts.tenant_id, table.c.id.in_(ids)
        )
        if lock:
            query = query.with_for_update()
        for row in await ts.db.execute(query):
            found[f"{name}/{row.id}"] = row.version
    return found


async def open_request(
    ts: TenantSession,
    *,
    run_id: uuid.UUID,
    conversation_id: uuid.UUID | None,
    tool_call_id: str,
    tool_name: str,
    args: Mapping[str, Any],
    touches: Sequence[RecordRef],
    preview: Any,
    now: dt.datetime,
    ttl: dt.timedelta = DEFAULT_TTL,
) -> Pending:
    """Store a paused call for a person to approve or deny."""
    current = await versions(ts, touches)
    snapshot = {"records": current, "preview": preview}
    # The preview quotes the records; link the first existing person (a row with its own
    # subject key) so it is sealed under that person's key and erased with them.
    person = next((r for r in touches if _is_a_person(r) and current[r.key] is not None), None)
    about = (
        {"record_type": BY_TABLE[person.table].name, "record_id": person.id}
        if person is not None
        else {}
    )
    created: Any = await records.create_record(
        ts,
        APPROVAL,
        {
            "conversation_id": conversation_id,
            "run_id": run_id,
            "tool_call_id": tool_call_id,
            "tool_name": tool_name,
            "args": dict(args),
            "args_hash": args_hash(tool_name, args),
            "snapshot": json.loads(json.dumps(snapshot, default=str)),
            "state": "pending",
            "expires_at": now + ttl,
            **about,
        },
    )
    return Pending(created.id, created.expires_at)


def _is_a_person(ref: RecordRef) -> bool:
    table = metadata.tables.get(ref.table)
    return table is not None and keyed_by(table) is KeyedBy.SELF


async def get_request(ts: TenantSession, approval_id: uuid.UUID) -> dict[str, Any]:
    """A stored approval request, decrypted (for showing it again)."""
    return (await records.get_record(ts, APPROVAL, approval_id)).model_dump()


async def decide(
    ts: TenantSession,
    approval_id: uuid.UUID,
    *,
    approve: bool,
    member_id: uuid.UUID | None,
    now: dt.datetime,
) -> str:
    """A person approves or denies a pending request. Returns the new state: `approved`,
    `denied`, or `expired` when it was too late (the caller commits that and tells the person)."""
    require_role(ts, "member", to="approve actions")
    row = await _locked(ts, _approvals.c.id == approval_id)
    if row is None:
        raise NotFound("approval request", approval_id)
    if row["state"] != "pending":
        raise Conflict(f"this request was already {row['state']}")
    if now >= row["expires_at"]:
        await _set_state(ts, approval_id, "expired")
        return "expired"
    state = "approved" if approve else "denied"
    await _set_state(ts, approval_id, state, decided_by=member_id, decided_at=now)
    return state


async def claim(
    ts: TenantSession,
    *,
    conversation_id: uuid.UUID | None,
    tool_call_id: str,
    tool_name: str,
    args_digest: str,
    now: dt.datetime,
) -> Claim:
    """Spend the approval of one tool call, or say why it cannot run.

    The request is found by conversation, tool call id and tool (never by an id the client
    sends). Refusals are returned, not raised, so the caller commits the state change (an
    expiry) that comes with them.
    """
    same_conversation = (
        _approvals.c.conversation_id.is_(None)
        if conversation_id is None
        else _approvals.c.conversation_id == conversation_id
    )
    row = await _locked(
        ts,
        same_conversation,
        _approvals.c.tool_call_id == tool_call_id,
        _approvals.c.tool_name == tool_name,
    )
    if row is None:
        return Claim(None, None, "no approval was requested for this call")
    approval_id = row["id"]
    refusal = _refusal(row, args_digest, now)
    if refusal is not None:
        if row["state"] in ("pending", "approved") and now >= row["expires_at"]:
            await _set_state(ts, approval_id, "expired")
        return Claim(approval_id, None, refusal)
    await _set_state(ts, approval_id, "executed")
    (opened,) = await ts.sealer.open_rows(ts, APPROVAL, [row])
    return Claim(approval_id, opened["snapshot"])


async def mark_conflict(ts: TenantSession, approval_id: uuid.UUID) -> None:
    """The records changed between approval and execution: nothing was written."""
    await _set_state(ts, approval_id, "conflict")


def changed_records(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Keys of the rows whose version differs between the snapshot and now."""
    return sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))


def _refusal(row: Mapping[str, Any], args_digest: str, now: dt.datetime) -> str | None:
    state = row["state"]
    if state == "pending":
        return "this call has not been approved"
    if state == "denied":
        return "this call was denied"
    if state in ("executed", "conflict"):
        return "this approval was already used; ask again"
    if state == "expired" or now >= row["expires_at"]:
        return "this approval expired; ask again"
    if row["args_hash"] != args_digest:
        return "the arguments differ from the approved ones; ask again"
    return None


async def _locked(ts: TenantSession, *conditions: Any) -> dict[str, Any] | None:
    query = (
        sa.select(_approvals)
        .where(_approvals.c.tenant_id == ts.tenant_id, *conditions)
        .order_by(_approvals.c.created_at.desc())
        .limit(1)
        .with_for_update()
    )
    row = (await ts.db.execute(query)).first()
    return dict(row._mapping) if row is not None else None


async def _set_state(ts: TenantSession, approval_id: uuid.UUID, state: str, **extra: Any) -> None:
    await ts.db.execute(
        sa.update(_approvals)
        .where(_approvals.c.tenant_id == ts.tenant_id, _approvals.c.id == approval_id)
        .values(state=state, **extra)
    )
