"""A record's history, and undoing an agent's turn, both read from the audit trail.

History decrypts the trail's before/after images with `store.audit.opener` and shows what
changed, event by event.

Undo works on the stored rows themselves. The trail keeps each row as it was stored (sealed
columns as ciphertext bound to that table, column and row id), so putting a row back means
writing those exact bytes back: nothing is decrypted or re-encrypted. The agent's events are
reversed newest first (a deleted row is re-inserted, an update restored, an insert deleted), each
record only if it is still exactly as the agent left it (same version, or still absent); any
other record is a conflict. Blind-index tokens are derived data and are rebuilt afterwards
rather than replayed (the trail leaves the tokens out). Erasures and shredded keys cannot come
back, by design.
"""

import datetime as dt
import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from store.audit.opener import EventOpener
from store.audit.reader import event_batches
from store.entities import BY_TABLE, Entity
from store.errors import Conflict, InvalidInput
from store.models import metadata
from store.models.base import subject_of
from store.services import records
from store.services.access import require_role
from store.services.approvals import RecordRef
from store.tenancy import TenantSession

MAX_TURN_EVENTS = 500
# Rows undo never replays: derived tokens (rebuilt instead), approval bookkeeping, key material.
NOT_REPLAYED = frozenset({"search_tokens", "approval_requests", "data_keys"})
# Key tables, and the key columns an undo never rolls back. Undo creates no key (the trail leaves
# the wrapped key out, so a deleted one cannot come back), deletes no key (what was written about
# the person since is sealed under it; a plain delete keeps it too), and reverts no re-wrap (not
# the agent's change; restoring `key_version` without the wrapped key would break the key). It
# does revert the rest, such as a merge's `merged_into`.
KEY_COLUMNS = {"subject_keys": frozenset({"key_version", "wrapped"})}
_SYSTEM = frozenset({"tenant_id", "id", "created_at", "updated_at", "version"})
_events = metadata.tables["audit_events"]


async def record_history(
    ts: TenantSession, entity: Entity, record_id: uuid.UUID, *, limit: int = 20
) -> list[dict[str, Any]]:
    """The newest `limit` changes of a record, newest first, with the fields each changed."""
    if not 1 <= limit <= records.MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {records.MAX_LIMIT}")
    newest: deque[Any] = deque(maxlen=limit)
    async for batch in event_batches(ts, record_id=record_id):
        newest.extend(e for e in batch if e.table_name == entity.table_name)
    opened = await EventOpener(ts).open(list(newest))
    return [
        {
            "seq": e["seq"],
            "at": e["at"],
            "actor": e["actor"],
            "via": e["via"],
            "action": e["action"],
            "changes": _changes(entity, e["before"], e["after"]),
        }
        for e in reversed(opened)
    ]


def _changes(
    entity: Entity, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> dict[str, Any]:
    if after is not None and before is None:
        return {f.name: after.get(f.name) for f in entity.fields if after.get(f.name) is not None}
    if before is not None and after is not None:
        return {
            f.name: {"from": before.get(f.name), "to": after.get(f.name)}
            for f in entity.fields
            if before.get(f.name) != after.get(f.name)
        }
    return {"reason": after.get("reason")} if after else {}


# --- undo ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnEvent:
    seq: int
    action: str
    table: str
    record_id: uuid.UUID
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def ref(self) -> RecordRef:
        return RecordRef(self.table, self.record_id)


@dataclass
class UndoPlan:
    run_id: uuid.UUID
    steps: list[TurnEvent] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)
    not_undoable: list[str] = field(default_factory=list)

    @property
    def touched(self) -> list[RecordRef]:
        return list({s.ref.key: s.ref for s in self.steps}.values())

    def preview(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "changes_to_reverse": [
                {"seq": s.seq, "undo": f"{s.action} of {s.table}", "record_id": s.record_id}
                for s in self.steps
                if s.ref.key not in self.conflicts
            ],
            "conflicts": self.conflicts,
            "not_undoable": self.not_undoable,
        }


async def plan_undo(ts: TenantSession, run_id: uuid.UUID, *, lock: bool = False) -> UndoPlan:
    """What undoing the agent run would do, and which records changed since (conflicts)."""
    plan = UndoPlan(run_id)
    events = [e for e in await _turn_events(ts, run_id) if not _only_rewraps_a_key(e)]
    erased = await _erased_subjects(ts, events)
    for event in reversed(events):
        if event.table in NOT_REPLAYED or (event.action == "insert" and event.table in KEY_COLUMNS):
            continue
        if event.action not in ("insert", "update", "delete") or (
            event.action == "delete" and event.table in KEY_COLUMNS
        ):
            plan.not_undoable.append(f"{event.action} of {event.table} {event.record_id}")
            continue
        if _restored_subject(event) in erased:
            plan.not_undoable.append(
                f"{event.action} of {event.table} {event.record_id}: the person it is about "
                "was erased"
            )
            continue
        if event.ref.key not in {s.ref.key for s in plan.steps}:
            problem = await _changed_since(ts, event, lock=lock)
            if problem:
                plan.conflicts[event.ref.key] = problem
        plan.steps.append(event)
    return plan


async def undo_run(
    ts: TenantSession, run_id: uuid.UUID, *, skip_conflicts: bool = False
) -> dict[str, Any]:
    """Reverse an agent run's changes, newest first. Conflicting records are left alone (with
    `skip_conflicts`) or, by default, stop the whole undo before anything is written."""
    require_role(ts, "member", to="undo changes")
    plan = await plan_undo(ts, run_id, lock=True)
    if not plan.steps and not plan.conflicts:
        raise InvalidInput(f"run {run_id} changed nothing that can be undone")
    if plan.conflicts and not skip_conflicts:
        first = next(iter(plan.conflicts.items()))
        raise Conflict(
            f"{len(plan.conflicts)} record(s) changed after the agent touched them "
            f"(e.g. {first[0]}: {first[1]}); nothing was undone"
        )
    steps = [s for s in plan.steps if s.ref.key not in plan.conflicts]
    # Rows come back before the updates that point at them, and created rows go last: the
    # trail records a parent's delete before the cascade's changes to its children.
    deleted = _parents_first([s for s in steps if s.action == "delete"])
    updated = [s for s in steps if s.action == "update"]
    inserted = [s for s in steps if s.action == "insert"]
    for step in (*deleted, *updated, *inserted):
        await _reverse(ts, step)
    reversed_steps = len(steps)
    for ref in plan.touched:
        if ref.table in BY_TABLE and ref.key not in plan.conflicts:
            await records.reindex_record(ts, BY_TABLE[ref.table], ref.id)
    return {
        "run_id": run_id,
        "reversed": reversed_steps,
        "skipped_conflicts": plan.conflicts,
        "not_undoable": plan.not_undoable,
    }


def _parents_first(steps: list[TurnEvent]) -> list[TurnEvent]:
    """Deleted rows in an order where each comes after the deleted rows it references."""
    pending = list(steps)
    keys = {s.ref.key for s in pending}
    ordered: list[TurnEvent] = []
    placed: set[str] = set()
    while pending:
        ready = [s for s in pending if all(d in placed or d not in keys for d in _references(s))]
        for step in ready or pending[:1]:  # a cycle: let the database judge
            ordered.append(step)
            placed.add(step.ref.key)
            pending.remove(step)
    return ordered


def _references(step: TurnEvent) -> list[str]:
    """Keys of the rows a deleted row's foreign keys point at."""
    table = metadata.tables[step.table]
    image = step.before or {}
    return [
        f"{c.info['references']}/{image[c.name]}"
        for c in table.columns
        if c.info.get("references") and image.get(c.name)
    ]


async def _turn_events(ts: TenantSession, run_id: uuid.UUID) -> list[TurnEvent]:
    query = (
        sa.select(
            _events.c.seq,
            _events.c.action,
            _events.c.table_name,
            _events.c.record_id,
            sa.cast(_events.c.before, sa.Text).label("before"),
            sa.cast(_events.c.after, sa.Text).label("after"),
        )
        .where(_events.c.tenant_id == ts.tenant_id, _events.c.run_id == str(run_id))
        .order_by(_events.c.seq)
        .limit(MAX_TURN_EVENTS + 1)
    )
    rows = (await ts.db.execute(query)).all()
    if len(rows) > MAX_TURN_EVENTS:
        raise InvalidInput(f"run {run_id} made more than {MAX_TURN_EVENTS} changes; undo by hand")
    return [
        TurnEvent(
            seq=r.seq,
            action=r.action,
            table=r.table_name,
            record_id=r.record_id,
            before=json.loads(r.before) if r.before else None,
            after=json.loads(r.after) if r.after else None,
        )
        for r in rows
        if r.record_id is not None
    ]


def _only_rewraps_a_key(event: TurnEvent) -> bool:
    """An update that only re-wrapped key material (after a rotation): not the agent's change."""
    key_columns = KEY_COLUMNS.get(event.table)
    if event.action != "update" or key_columns is None:
        return False
    before, after = event.before or {}, event.after or {}
    changed = {c for c in set(before) | set(after) if before.get(c) != after.get(c)}
    return changed - _SYSTEM <= key_columns


def _restored_subject(event: TurnEvent) -> uuid.UUID | None:
    """The person whose key sealed the image an undo would put back (None: the workspace's)."""
    if event.action == "insert" or event.before is None:
        return None
    return subject_of(metadata.tables[event.table], event.record_id, event.before)


async def _erased_subjects(ts: TenantSession, events: list[TurnEvent]) -> set[uuid.UUID]:
    """The people the restored images are about whose keys are gone: restoring those rows
    would bring back ciphertext nobody can open."""
    subjects = {s for s in map(_restored_subject, events) if s is not None}
    return subjects - await ts.sealer.keyring.existing_subjects(ts, subjects)


async def _changed_since(ts: TenantSession, event: TurnEvent, *, lock: bool) -> str | None:
    """Why the record is no longer as the agent left it, or None when it is."""
    table = metadata.tables[event.table]
    query = sa.select(table.c.version).where(
        table.c.tenant_id == ts.tenant_id, table.c.id == event.record_id
    )
    if lock:
        query = query.with_for_update()
    current = (await ts.db.execute(query)).scalar()
    if event.action == "delete":
        return None if current is None else "it exists again"
    if current is None:
        return "it was deleted since"
    expected = (event.after or {}).get("version")
    return None if current == expected else f"changed since (version {expected} -> {current})"


async def _reverse(ts: TenantSession, event: TurnEvent) -> None:
    table = metadata.tables[event.table]
    where = (table.c.tenant_id == ts.tenant_id, table.c.id == event.record_id)
    if event.action == "insert":
        await ts.db.execute(sa.delete(table).where(*where))
    elif event.action == "update":
        values = _row(
            table, event.before or {}, exclude=_SYSTEM | KEY_COLUMNS.get(table.name, set())
        )
        if values:
            await ts.db.execute(sa.update(table).where(*where).values(**values))
    else:
        await ts.db.execute(sa.insert(table).values(**_row(table, event.before or {})))


def _row(table: sa.Table, image: dict[str, Any], *, exclude: frozenset[str] = frozenset()) -> dict:
    """Column values from a trail image (jsonb renders bytea as "\\x<hex>")."""
    return {
        c.name: _value(c, image[c.name])
        for c in table.columns
        if c.name in image and c.name not in exclude
    }


def _value(column: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, sa.LargeBinary):
        return bytes.fromhex(value[2:])
    if isinstance(kind, sa.JSON):
        return value
    try:
        python_type = kind.python_type
    except NotImplementedError:
        return value
    parsers: dict[Any, Any] = {
        uuid.UUID: uuid.UUID,
        dt.datetime: dt.datetime.fromisoformat,
        dt.date: dt.date.fromisoformat,
        Decimal: lambda v: Decimal(str(v)),
    }
    parse = parsers.get(python_type)
    return parse(value) if parse and isinstance(value, str | int | float) else value
