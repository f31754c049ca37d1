"""The generated tools of every entity, end to end: a scripted model calls them through the real
agent, the records change as asked, and the audit trail holds exactly the agent's rows."""

import datetime as dt
import secrets
import uuid
from decimal import Decimal
from typing import Any

import pytest

from store.entities import BY_NAME, BY_TABLE, ENTITIES, Entity, FieldSpec
from store.runtime import Store
from tests.tools.conftest import Workspace
from tests.tools.support import Nexus, audit_rows, covers, fetch, make
from tools.catalog import BULK_ENTITIES

for _e in ENTITIES:
    covers(
        f"create_{_e.name}",
        f"get_{_e.name}",
        f"search_{_e.plural}",
        f"update_{_e.name}",
        f"delete_{_e.name}",
    )
for _name in BULK_ENTITIES:
    covers(f"bulk_update_{BY_NAME[_name].plural}")

ENTITY_IDS = [e.name for e in ENTITIES]


async def sample(store: Store, tenant: uuid.UUID, entity: Entity) -> dict[str, Any]:
    """Values for a new record: every required field, and a unique word in a searchable one."""
    values: dict[str, Any] = {}
    for spec in entity.fields:
        if spec.required:
            values[spec.name] = await _value(store, tenant, spec)
    words = [f for f in entity.searchable_fields if f.search and f.search.value == "words"]
    if words:
        values[words[0].name] = f"zq{secrets.token_hex(4)} sample"
    return values


async def _value(store: Store, tenant: uuid.UUID, spec: FieldSpec) -> Any:
    if spec.references:
        target = BY_TABLE[spec.references]
        made = await make(store, tenant, target.name, **await sample(store, tenant, target))
        return str(made.id)
    if spec.choices:
        return spec.choices[0]
    kinds: dict[Any, Any] = {bool: True, int: 1, Decimal: "1", dt.date: "2026-01-31"}
    return kinds.get(spec.python_type, f"sample {spec.name}")


def change_for(entity: Entity) -> tuple[str, Any]:
    """A field to change that no blind index covers, and a valid new value for it."""
    for spec in entity.fields:
        if spec.sealed and not spec.json and spec.search is None:
            return spec.name, f"changed {spec.name}"
    for spec in entity.fields:
        if spec.sealed or spec.references or spec.choices:
            continue
        if spec.python_type is str:
            return spec.name, "#abcdef"
        if spec.python_type is int:
            return spec.name, 7
        if spec.python_type is bool:
            return spec.name, not (spec.default or False)
        if spec.python_type is Decimal:
            return spec.name, "7.50"
    raise AssertionError(f"nothing to change on {entity.name}")


def expected_insert(entity: Entity, record_id: uuid.UUID, values: dict[str, Any]) -> set[Any]:
    rows = {(entity.table_name, "insert", record_id)}
    if entity.subject_keyed:
        rows.add(("subject_keys", "insert", record_id))
    if any(values.get(f.name) for f in entity.searchable_fields):
        rows.add(("search_tokens", "insert", record_id))
    return rows


@pytest.mark.parametrize("name", ENTITY_IDS)
async def test_create_writes_the_record_with_the_agent_as_actor(
    nexus: Nexus, store: Store, workspace: Workspace, name: str
) -> None:
    entity = BY_NAME[name]
    values = await sample(store, workspace.tenant, entity)
    turn = await nexus.run((f"create_{name}", values))
    created = turn.data(f"create_{name}")
    record_id = uuid.UUID(created["id"])
    stored = (await fetch(store, workspace.tenant, name, record_id)).model_dump(mode="json")
    for key, value in values.items():
        assert str(stored[key]) == str(value) or stored[key] == value, key
    assert await audit_rows(store, workspace.tenant, turn.run_id) == expected_insert(
        entity, record_id, values
    )


@pytest.mark.parametrize("name", ENTITY_IDS)
async def test_get_reads_the_record_and_writes_nothing(
    nexus: Nexus, store: Store, workspace: Workspace, name: str
) -> None:
    entity = BY_NAME[name]
    made = await make(
        store, workspace.tenant, name, **await sample(store, workspace.tenant, entity)
    )
    turn = await nexus.run((f"get_{name}", {"id": str(made.id)}))
    assert turn.data(f"get_{name}")["id"] == str(made.id)
    assert await audit_rows(store, workspace.tenant, turn.run_id) == set()


@pytest.mark.parametrize("name", ENTITY_IDS)
async def test_search_finds_the_record_by_words_or_filters(
    nexus: Nexus, store: Store, workspace: Workspace, name: str
) -> None:
    entity = BY_NAME[name]
    values = await sample(store, workspace.tenant, entity)
    made = await make(store, workspace.tenant, name, **values)
    await make(store, workspace.tenant, name, **await sample(store, workspace.tenant, entity))
    words = [f.name for f in entity.searchable_fields if f.search and f.search.value == "words"]
    refs = [f.name for f in entity.fields if f.references and f.name in values]
    if words:
        args: dict[str, Any] = {"q": values[words[0]].split()[0][:6]}
    elif refs:
        args = {"filters": {refs[0]: values[refs[0]]}}
    else:  # nothing to narrow by: the newest first
        args = {"limit": 1}
    turn = await nexus.run((f"search_{entity.plural}", {"limit": 5, **args}))
    found = turn.data(f"search_{entity.plural}")
    expected = [str(made.id)] if words or refs else [found["items"][0]["id"]]
    assert [item["id"] for item in found["items"]] == expected
    if not (words or refs):
        assert found["next_cursor"]
    assert await audit_rows(store, workspace.tenant, turn.run_id) == set()


@pytest.mark.parametrize("name", ENTITY_IDS)
async def test_update_changes_only_the_given_field(
    nexus: Nexus, store: Store, workspace: Workspace, name: str
) -> None:
    entity = BY_NAME[name]
    made = await make(
        store, workspace.tenant, name, **await sample(store, workspace.tenant, entity)
    )
    before = (await fetch(store, workspace.tenant, name, made.id)).model_dump(mode="json")
    field, value = change_for(entity)
    turn = await nexus.run(
        (f"update_{name}", {"id": str(made.id), "expected_version": 1, "changes": {field: value}})
    )
    assert turn.data(f"update_{name}")["version"] == 2
    after = (await fetch(store, workspace.tenant, name, made.id)).model_dump(mode="json")
    assert str(after[field]) == str(value)
    untouched = set(before) - {field, "version", "updated_at"}
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}
    assert await audit_rows(store, workspace.tenant, turn.run_id) == {
        (entity.table_name, "update", made.id)
    }


@pytest.mark.parametrize("name", ENTITY_IDS)
async def test_delete_pauses_then_deletes_once_approved(
    nexus: Nexus, store: Store, workspace: Workspace, name: str
) -> None:
    entity = BY_NAME[name]
    values = await sample(store, workspace.tenant, entity)
    made = await make(store, workspace.tenant, name, **values)
    turn = await nexus.run((f"delete_{name}", {"id": str(made.id)}))
    assert turn.paused is not None
    assert await fetch(store, workspace.tenant, name, made.id) is not None
    done = await nexus.approve(turn)
    assert done.data(f"delete_{name}")["deleted"]["id"] == str(made.id)
    assert await fetch(store, workspace.tenant, name, made.id) is None
    (approval,) = {
        r[2]
        for r in await audit_rows(store, workspace.tenant, turn.run_id)
        if r[0] == "approval_requests"
    }
    expected = {
        ("approval_requests", "insert", approval),
        ("approval_requests", "update", approval),
        (entity.table_name, "delete", made.id),
    }
    if any(values.get(f.name) for f in entity.searchable_fields):
        expected.add(("search_tokens", "delete", made.id))
    assert await audit_rows(store, workspace.tenant, turn.run_id) == expected


@pytest.mark.parametrize("name", BULK_ENTITIES)
async def test_bulk_update_previews_every_change_then_applies_them(
    nexus: Nexus, store: Store, workspace: Workspace, name: str
) -> None:
    entity = BY_NAME[name]
    made = [
        await make(store, workspace.tenant, name, **await sample(store, workspace.tenant, entity))
        for _ in range(3)
    ]
    field, value = change_for(entity)
    turn = await nexus.run(
        (
            f"bulk_update_{entity.plural}",
            {"ids": [str(m.id) for m in made], "changes": {field: value}},
        )
    )
    assert turn.paused is not None
    preview = turn.paused.metadata["call-0"]["preview"]
    assert preview["would_change"] == 3
    assert [row["to"] for row in preview["changes"]] == [{field: value}] * 3
    for m in made:  # a dry run: nothing written yet
        assert (await fetch(store, workspace.tenant, name, m.id)).version == 1
    done = await nexus.approve(turn)
    assert len(done.data(f"bulk_update_{entity.plural}")["updated"]) == 3
    for m in made:
        after = (await fetch(store, workspace.tenant, name, m.id)).model_dump(mode="json")
        assert str(after[field]) == str(value)
    changed = {
        r
        for r in await audit_rows(store, workspace.tenant, turn.run_id)
        if r[0] == entity.table_name
    }
    assert changed == {(entity.table_name, "update", m.id) for m in made}


async def test_search_filters_by_range_and_pages_with_the_cursor(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    for amount in (100, 500, 900, 1500):
        await make(store, workspace.tenant, "deal", name=f"Deal {amount}", amount=amount)
    turn = await nexus.run(
        (
            "search_deals",
            {"filters": {"amount_min": 400, "amount_max": 1000}, "sort": "-created_at", "limit": 1},
        )
    )
    first = turn.data("search_deals")
    assert [i["name"] for i in first["items"]] == ["Deal 900"]
    again = await nexus.run(
        (
            "search_deals",
            {
                "filters": {"amount_min": 400, "amount_max": 1000},
                "limit": 1,
                "cursor": first["next_cursor"],
            },
        )
    )
    second = again.data("search_deals")
    assert [i["name"] for i in second["items"]] == ["Deal 500"]
    assert "next_cursor" not in second
