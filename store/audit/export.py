"""Export a workspace's whole trail, decrypted, as JSONL or CSV lines, streamed.

Every export verifies the whole chain while it streams (it reads every event anyway) and, if the
chain verified, signs a checkpoint of the exported head: the file and the checkpoint describe
the same chain, and the customer keeps a signed anchor outside our database. If the chain does
not verify, the export still completes (an admin investigating tampering needs the data most)
but signs nothing and says so.

JSONL: one `{"type": "event", ...}` object per event with full before/after, then a
`{"type": "verification", "ok", "events", "first_bad_seq", "reason"}` line and, when the chain
verified, a `{"type": "checkpoint", "seq", "hash", "signed_at", "key_id", "signature"}` line.

CSV: one row per changed field, for spreadsheets: seq, at, actor, via, action, table_name,
record_id, field, before, after, run_id, tool_call_id, hash. Every cell that a spreadsheet would
read as a formula (first character = + - @ tab or CR) gets a leading apostrophe (OWASP CSV
injection guidance), since the values are whatever people typed.
"""

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Literal

from store.audit.anchors import Checkpoint
from store.audit.checkpoints import sign_head
from store.audit.opener import EventOpener
from store.audit.reader import event_batches, last_seq
from store.audit.signing import signing_keys_for
from store.audit.verify import AUDIT_ACTOR, VerifyResult, load_checker
from store.tenancy import Via

if TYPE_CHECKING:
    from store.runtime import Store

Format = Literal["jsonl", "csv"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv")
EXPORT_BATCH = 500
CSV_COLUMNS = (
    "seq",
    "at",
    "actor",
    "via",
    "action",
    "table_name",
    "record_id",
    "field",
    "before",
    "after",
    "run_id",
    "tool_call_id",
    "hash",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


async def export_trail(
    store: "Store",
    tenant_id: uuid.UUID,
    *,
    fmt: Format = "jsonl",
    actor: str = AUDIT_ACTOR,
    via: Via = "cli",
    on_done: Callable[[VerifyResult, Checkpoint | None], None] | None = None,
) -> AsyncIterator[str]:
    """Lines (each ending in a newline) of the decrypted trail of one workspace.

    The chain is verified from event 1 as it streams; at the end a checkpoint of the exported
    head is signed if, and only if, it verified. `on_done` receives the outcome.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    keys = signing_keys_for(store.provider)
    if fmt == "csv":
        yield _csv_line(CSV_COLUMNS)
    async with store.tenant_session(tenant_id, actor, via=via) as ts:
        checker = await load_checker(ts, keys)
        # Every event up to here was committed before this point (seqs are handed out under
        # the head's lock, which is held to commit), and anchors beyond it reveal a lost tail.
        through = max(checker.horizon, await last_seq(ts))
        opener = EventOpener(ts)
        batches = event_batches(ts, through_seq=through, batch=EXPORT_BATCH)
        async with aclosing(batches) as stream:
            async for batch in stream:
                for stored in batch:
                    if not checker.done:
                        checker.feed(stored)
                for event in await opener.open(batch):
                    if fmt == "jsonl":
                        yield _json_line({"type": "event", **event})
                    else:
                        for row in csv_rows(event):
                            yield _csv_line(row)
        result = checker.finish()
        checkpoint = await sign_head(ts, keys, *result.head) if result.ok and result.head else None
    if fmt == "jsonl":
        yield _json_line({"type": "verification", **result.as_json()})
        if checkpoint is not None:
            yield _json_line({"type": "checkpoint", **checkpoint.as_json()})
    if on_done is not None:
        on_done(result, checkpoint)


def _json_line(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, default=str) + "\n"


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would evaluate becomes text."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _csv_line(cells: Any) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([neutralise(str(c)) for c in cells])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def changed_fields(event: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for what the event changed; every non-null field on insert/delete."""
    before, after = event["before"] or {}, event["after"] or {}
    names = [k for k in {**before, **after} if k != "tenant_id"]
    if event["before"] is not None and event["after"] is not None and event["action"] == "update":
        names = [k for k in names if before.get(k) != after.get(k)]
    else:
        names = [k for k in names if before.get(k) is not None or after.get(k) is not None]
    return [(k, before.get(k), after.get(k)) for k in names]


def csv_rows(event: dict[str, Any]) -> Iterator[list[str]]:
    common = [
        str(event["seq"]),
        event["at"],
        event["actor"],
        event["via"] or "",
        event["action"],
        event["table_name"],
        event["record_id"] or "",
    ]
    tail = [event["run_id"] or "", event["tool_call_id"] or "", event["hash"]]
    fields = changed_fields(event) or [("", None, None)]
    for name, before, after in fields:
        yield [*common, name, _cell(before), _cell(after), *tail]
