"""Every mutation leaves exactly one audit event per changed row, whoever makes it and how.

The expected events are not read from the trigger's code: they are the difference between two
snapshots of every table of the workspace, taken by the superuser around each operation. Any
changed row without an event, an event without a change, a wrong action or a wrong before/after
image fails the comparison.
"""

import uuid
from collections import Counter
from typing import Any

import psycopg
import pytest

from store.audit.chain import StoredEvent
from store.audit.opener import EventOpener
from store.audit.reader import event_batches
from store.entities import BY_NAME, ENTITIES, Entity
from store.migrations.ddl import KEY_MATERIAL_COLUMNS
from store.runtime import Store
from store.services import records
from tests import conftest
from tests.conftest import MakeWorkspace
from tests.store.audit.helpers import ACTOR, events, head_seq, scoped, snapshot

CREATE: dict[str, dict[str, Any]] = {
    "company": {"name": "Acme Corp", "domain": "acme.test", "phone": "+1 555 0100"},
    "contact": {"first_name": "Jane", "last_name": "Doe", "email": "jane@acme.test"},
    "pipeline": {"name": "Partners"},
    "stage": {"name": "Intro", "position": 1, "probability": 10},
    "deal": {"name": "Renewal", "amount": "1200.50"},
    "activity": {"kind": "call", "subject": "Intro call", "body": "Talked about pricing"},
    "task": {"title": "Follow up", "priority": "high"},
    "note": {"body": "Met at the fair"},
    "tag": {"name": "vip", "color": "#ff0000"},
    "list": {"name": "Webinar invitees"},
    "product": {"name": "Seat", "sku": "SEAT-1", "unit_price": "10.00"},
    "line_item": {"quantity": 2, "unit_price": "9.50"},
    "ticket": {"subject": "Cannot log in", "description": "Since Monday"},
}


def _update_for(entity: Entity) -> dict[str, Any]:
    """A change to the entity's first sealed text field (or, for line items, a quantity)."""
    for spec in entity.sealed_fields:
        if not spec.json:
            return {spec.name: f"changed {entity.title}"}
    return {"quantity": 5}


def _expected(
    before: dict[tuple[str, str], dict[str, Any]], after: dict[tuple[str, str], dict[str, Any]]
) -> dict[tuple[str, str], tuple[str, Any, Any]]:
    """(table, id) -> (action, before image, after image) for every row that changed."""

    def image(table: str, row: dict[str, Any] | None) -> dict[str, Any] | None:
        if row is None:
            return None
        return {k: v for k, v in row.items() if k not in KEY_MATERIAL_COLUMNS.get(table, ())}

    changed = {}
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        action = "insert" if old is None else "delete" if new is None else "update"
        changed[key] = (action, image(key[0], old), image(key[0], new))
    return changed


def _assert_one_event_per_changed_row(
    recorded: list[dict[str, Any]], expected: dict[tuple[str, str], tuple[str, Any, Any]]
) -> None:
    per_row = Counter((e["table_name"], str(e["record_id"])) for e in recorded)
    assert [k for k, n in per_row.items() if n != 1] == [], "rows with more than one event"
    assert set(per_row) == set(expected), "changed rows and audited rows differ"
    for event in recorded:
        key = (event["table_name"], str(event["record_id"]))
        assert (event["action"], event["before"], event["after"]) == expected[key], key
        assert (event["actor"], event["via"], event["run_id"]) == (ACTOR, "ui", None)


async def _dependencies(store: Store, tenant: uuid.UUID) -> dict[str, Any]:
    async with store.tenant_session(tenant, ACTOR, via="ui") as ts:
        pipeline = await records.create_record(ts, BY_NAME["pipeline"], {"name": "Base"})
        deal = await records.create_record(ts, BY_NAME["deal"], {"name": "Base deal"})
    return {"stage": {"pipeline_id": pipeline.id}, "line_item": {"deal_id": deal.id}}  # type: ignore[attr-defined]


async def _opened_event(
    store: Store, tenant: uuid.UUID, seq: int, table: str, record_id: uuid.UUID
) -> dict[str, Any]:
    """The product's decrypted view of the one event about `record_id` after `seq`."""
    async with store.tenant_session(tenant, ACTOR, via="ui") as ts:
        found: list[StoredEvent] = []
        async for batch in event_batches(ts, after_seq=seq, record_id=record_id):
            found.extend(e for e in batch if e.table_name == table)
        (opened,) = await EventOpener(ts).open(found)
    return opened


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: e.name)
async def test_service_create_update_delete_are_each_audited_exactly(
    entity: Entity, store: Store, make_workspace: MakeWorkspace, test_db: conftest.TestDatabase
) -> None:
    tenant = await make_workspace()
    data = {**CREATE[entity.name], **(await _dependencies(store, tenant)).get(entity.name, {})}

    seq, before = head_seq(test_db, tenant), snapshot(test_db, tenant)
    async with store.tenant_session(tenant, ACTOR, via="ui") as ts:
        made = await records.create_record(ts, entity, data)
    _assert_one_event_per_changed_row(
        events(test_db, tenant, after_seq=seq), _expected(before, snapshot(test_db, tenant))
    )
    inserted = await _opened_event(store, tenant, seq, entity.table_name, made.id)  # type: ignore[attr-defined]
    for spec in entity.sealed_fields:
        assert inserted["after"][spec.name] == getattr(made, spec.name), spec.name

    change = _update_for(entity)
    seq, before = head_seq(test_db, tenant), snapshot(test_db, tenant)
    async with store.tenant_session(tenant, ACTOR, via="ui") as ts:
        updated = await records.update_record(ts, entity, made.id, change)  # type: ignore[attr-defined]
    _assert_one_event_per_changed_row(
        events(test_db, tenant, after_seq=seq), _expected(before, snapshot(test_db, tenant))
    )
    opened = await _opened_event(store, tenant, seq, entity.table_name, made.id)  # type: ignore[attr-defined]
    for name, value in change.items():
        assert opened["before"][name] == _plain(getattr(made, name))
        assert opened["after"][name] == _plain(getattr(updated, name)) == _plain(value)

    seq, before = head_seq(test_db, tenant), snapshot(test_db, tenant)
    async with store.tenant_session(tenant, ACTOR, via="ui") as ts:
        await records.delete_record(ts, entity, made.id)  # type: ignore[attr-defined]
    recorded = events(test_db, tenant, after_seq=seq)
    _assert_one_event_per_changed_row(recorded, _expected(before, snapshot(test_db, tenant)))
    assert any(e["action"] == "delete" and e["record_id"] == made.id for e in recorded)  # type: ignore[attr-defined]


def _plain(value: Any) -> Any:
    """Compare numbers as jsonb renders them (a Decimal 5 and a JSON 5 are the same change)."""
    return float(value) if not isinstance(value, str | bool | type(None)) else value


async def test_direct_sql_as_the_app_role_is_audited(
    store: Store, make_workspace: MakeWorkspace, test_db: conftest.TestDatabase
) -> None:
    """A write that bypasses the services entirely still leaves its event."""
    tenant = await make_workspace()
    async with store.tenant_session(tenant, ACTOR) as ts:
        tag = await records.create_record(ts, BY_NAME["tag"], {"name": "raw", "color": "#111111"})
    seq = head_seq(test_db, tenant)
    with scoped(test_db.app, tenant, actor="system:raw-sql") as conn:
        conn.execute("UPDATE tags SET color = '#222222' WHERE id = %s", (tag.id,))  # type: ignore[attr-defined]
    (event,) = events(test_db, tenant, after_seq=seq)
    assert (event["actor"], event["via"], event["action"], event["record_id"]) == (
        "system:raw-sql",
        None,
        "update",
        tag.id,  # type: ignore[attr-defined]
    )
    assert (event["before"]["color"], event["after"]["color"]) == ("#111111", "#222222")
    assert event["after"]["version"] == event["before"]["version"] + 1


async def test_direct_sql_as_the_owner_is_audited(
    store: Store, make_workspace: MakeWorkspace, test_db: conftest.TestDatabase
) -> None:
    """The migration role is bound by the same trigger (AUD-01)."""
    tenant = await make_workspace()
    seq = head_seq(test_db, tenant)
    tag_id = uuid.uuid4()
    with scoped(test_db.owner, tenant, actor="system:owner-sql") as conn:
        conn.execute(
            "INSERT INTO tags (tenant_id, id, created_at, updated_at, version, color) "
            "VALUES (%s, %s, now(), now(), 1, '#333333')",
            (tenant, tag_id),
        )
        conn.execute("DELETE FROM tags WHERE id = %s", (tag_id,))
    recorded = events(test_db, tenant, after_seq=seq)
    assert [(e["action"], e["record_id"], e["actor"]) for e in recorded] == [
        ("insert", tag_id, "system:owner-sql"),
        ("delete", tag_id, "system:owner-sql"),
    ]


async def test_agent_actor_carries_run_and_tool_call(
    store: Store, make_workspace: MakeWorkspace, test_db: conftest.TestDatabase
) -> None:
    tenant = await make_workspace()
    seq = head_seq(test_db, tenant)
    async with store.tenant_session(tenant, "agent:run-7f3/toolu_01AbC", via="agent") as ts:
        await records.create_record(ts, BY_NAME["tag"], {"name": "from nexus"})
    recorded = events(test_db, tenant, after_seq=seq)
    assert recorded
    assert {(e["actor"], e["via"], e["run_id"], e["tool_call_id"]) for e in recorded} == {
        ("agent:run-7f3/toolu_01AbC", "agent", "run-7f3", "toolu_01AbC")
    }


@pytest.mark.parametrize("actor", [None, "", "nobody", "member: spaced"])
@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO tags (tenant_id, id, created_at, updated_at, version) "
        "VALUES (%(tenant)s, gen_random_uuid(), now(), now(), 1)",
        "UPDATE tags SET color = '#444444' WHERE tenant_id = %(tenant)s",
        "DELETE FROM tags WHERE tenant_id = %(tenant)s",
    ],
    ids=["insert", "update", "delete"],
)
async def test_a_mutation_without_an_actor_is_refused(
    actor: str | None,
    statement: str,
    store: Store,
    make_workspace: MakeWorkspace,
    test_db: conftest.TestDatabase,
) -> None:
    tenant = await make_workspace()
    async with store.tenant_session(tenant, ACTOR) as ts:
        await records.create_record(ts, BY_NAME["tag"], {"name": "kept", "color": "#000000"})
    seq = head_seq(test_db, tenant)
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"app\.actor"),
        scoped(test_db.app, tenant, actor=actor) as conn,
    ):
        conn.execute(statement, {"tenant": tenant})
    assert head_seq(test_db, tenant) == seq
    with scoped(test_db.app, tenant) as conn:
        rows = conn.execute("SELECT color FROM tags WHERE tenant_id = %s", (tenant,)).fetchall()
    assert rows == [{"color": "#000000"}], "the refused statement changed nothing"
