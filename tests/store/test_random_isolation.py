"""A randomized sweep: records of every kind, created in three workspaces, never cross over.

A seeded random walk (the same walk on every run, so a failure reproduces) creates records of
random entities with random valid payloads, each linked only to records of its own workspace,
through the record services as the app role. Then, in every workspace and for every entity:

- listing (every page) returns exactly that workspace's records: the ones created there plus
  what provisioning seeded, as the database itself (read as the superuser) says;
- a word search returns only that workspace's records, though the words are shared by all;
- get, update and delete of any other workspace's record raise NotFound.

Change `SEED` to explore another walk; `STEPS` keeps the run to a few seconds.
"""

import datetime as dt
import random
import typing
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql

from store.entities import BY_NAME, BY_TABLE, ENTITIES, Entity, FieldSpec
from store.errors import NotFound
from store.models.work import RECORD_TYPES
from store.runtime import Store
from store.services import records
from tests import conftest

SEED = 20261204
STEPS = 90
WORKSPACES = 3
ACTOR = "member:random-isolation"
WORDS = ("acme", "globex", "initech", "umbrella", "renewal", "pilot", "widget", "north", "south")

# workspace -> table -> ids of the records of that table the workspace holds
Known = dict[uuid.UUID, dict[str, set[uuid.UUID]]]


def _database_ids(
    test_db: conftest.TestDatabase, tenant: uuid.UUID, tables: list[str]
) -> dict[str, set[uuid.UUID]]:
    """The ids the database holds for a workspace, per table, read as the superuser (no RLS)."""
    found: dict[str, set[uuid.UUID]] = {}
    with psycopg.connect(test_db.superuser) as conn:
        for table in tables:
            query = sql.SQL("SELECT id FROM {} WHERE tenant_id = %s").format(sql.Identifier(table))
            found[table] = {row[0] for row in conn.execute(query, (tenant,))}
    return found


class Walk:
    """Random valid payloads for one workspace, referring only to records it already holds."""

    def __init__(self, rng: random.Random, known: Known) -> None:
        self.rng = rng
        self.known = known

    def text(self, spec: FieldSpec) -> str:
        words = " ".join(self.rng.choices(WORDS, k=self.rng.randint(1, 3)))
        return f"{words} {self.rng.randint(1, 999)}"[: spec.max_length or 200]

    def value(self, tenant: uuid.UUID, spec: FieldSpec) -> Any:
        if spec.references:
            pool = sorted(self.known[tenant][spec.references])
            return self.rng.choice(pool) if pool else None
        if spec.choices:
            return self.rng.choice(spec.choices)
        kind = spec.python_type
        if kind is str:
            return self.text(spec)
        if kind is bool:
            return self.rng.random() < 0.5
        if kind is int:
            return self.rng.randint(spec.constraints.get("ge", 0), spec.constraints.get("le", 100))
        if kind is Decimal:
            return (
                Decimal(self.rng.randint(0, min(10000, 100 * spec.constraints.get("le", 100))))
                / 100
            )
        if kind is dt.date:
            return dt.date(2026, self.rng.randint(1, 12), self.rng.randint(1, 28))
        if kind is dt.datetime:
            return dt.datetime(2026, self.rng.randint(1, 12), 1, 9, 30, tzinfo=dt.UTC)
        return None  # custom JSON and unlinked ids: left out

    def link(self, tenant: uuid.UUID) -> dict[str, Any]:
        """`record_type`/`record_id` pointing at a record of this workspace, or nothing."""
        linkable = [t for t in RECORD_TYPES if self.known[tenant][BY_NAME[t].table_name]]
        if not linkable or self.rng.random() < 0.3:
            return {}
        record_type = self.rng.choice(linkable)
        pool = sorted(self.known[tenant][BY_NAME[record_type].table_name])
        return {"record_type": record_type, "record_id": self.rng.choice(pool)}

    def payload(self, tenant: uuid.UUID, entity: Entity) -> dict[str, Any] | None:
        """A valid payload, or None when a required record to refer to does not exist yet."""
        data: dict[str, Any] = {}
        for spec in entity.fields:
            if spec.name in ("record_type", "record_id"):
                continue
            if not spec.required and self.rng.random() < 0.5:
                continue
            value = self.value(tenant, spec)
            if value is None and spec.required:
                return None
            if value is not None:
                data[spec.name] = value
        if "record_id" in entity.field_map:
            data |= self.link(tenant)
        return data


async def _create(store: Store, walk: Walk, tenant: uuid.UUID, entity: Entity) -> uuid.UUID:
    """Create a record, first creating whatever required record it must refer to."""
    data = walk.payload(tenant, entity)
    while data is None:
        missing = next(
            f.references
            for f in entity.fields
            if f.required and f.references and not walk.known[tenant][f.references]
        )
        assert missing is not None
        await _create(store, walk, tenant, BY_TABLE[missing])
        data = walk.payload(tenant, entity)
    async with store.tenant_session(tenant, ACTOR) as ts:
        record = await records.create_record(ts, entity, data)
    record_id: uuid.UUID = record.id  # pyright: ignore[reportAttributeAccessIssue]
    walk.known[tenant][entity.table_name].add(record_id)
    return record_id


async def _list_all(
    store: Store, tenant: uuid.UUID, entity: Entity, q: str | None = None
) -> list[uuid.UUID]:
    """Every id a listing returns, following next_cursor to the last page."""
    ids: list[uuid.UUID] = []
    cursor = None
    async with store.tenant_session(tenant, ACTOR) as ts:
        while True:
            page = await records.list_records(ts, entity, q=q, limit=7, cursor=cursor)
            ids.extend(item.id for item in page.items)  # pyright: ignore[reportAttributeAccessIssue]
            cursor = page.next_cursor
            if cursor is None:
                return ids


async def test_random_records_never_cross_workspaces(
    store: Store, make_workspace: conftest.MakeWorkspace, test_db: conftest.TestDatabase
) -> None:
    """Every list, search, get, update and delete stays inside the workspace that asks."""
    rng = random.Random(SEED)
    tenants = [await make_workspace(f"Random {n}") for n in range(WORKSPACES)]
    tables = [e.table_name for e in ENTITIES]
    known: Known = {t: _database_ids(test_db, t, [*tables, "members"]) for t in tenants}
    walk = Walk(rng, known)
    created: dict[uuid.UUID, list[tuple[Entity, uuid.UUID]]] = defaultdict(list)

    for _ in range(STEPS):
        tenant, entity = rng.choice(tenants), rng.choice(ENTITIES)
        created[tenant].append((entity, await _create(store, walk, tenant, entity)))
    assert {e.name for records_of in created.values() for e, _ in records_of} == set(BY_NAME)

    # Listing returns exactly the workspace's own records, as the database holds them.
    for tenant in tenants:
        in_database = _database_ids(test_db, tenant, tables)
        for entity in ENTITIES:
            listed = await _list_all(store, tenant, entity)
            assert len(listed) == len(set(listed)), f"{entity.name}: a record listed twice"
            assert set(listed) == known[tenant][entity.table_name], entity.name
            assert set(listed) == in_database[entity.table_name], entity.name

    # Searches for words every workspace uses find only the searcher's records.
    hits = 0
    for tenant in tenants:
        for entity in (e for e in ENTITIES if e.searchable_fields):
            for word in rng.sample(WORDS, 3):
                found = await _list_all(store, tenant, entity, q=word)
                assert set(found) <= known[tenant][entity.table_name], (entity.name, word)
                hits += len(found)
    assert hits > 0, "the searches found nothing at all, so they proved nothing"

    # Another workspace's record cannot be read, changed or deleted, even by its exact id.
    for tenant in tenants:
        foreign = [(e, i) for other in tenants if other != tenant for e, i in created[other]]
        assert foreign
        async with store.tenant_session(tenant, ACTOR) as ts:
            for entity, record_id in foreign:
                with pytest.raises(NotFound):
                    await records.get_record(ts, entity, record_id)
                with pytest.raises(NotFound):
                    await records.update_record(ts, entity, record_id, {})
                with pytest.raises(NotFound):
                    await records.delete_record(ts, entity, record_id)

    # And nothing was lost on the way: each workspace still holds every record it created.
    for tenant in tenants:
        in_database = _database_ids(test_db, tenant, tables)
        assert in_database == {table: known[tenant][table] for table in tables}


def test_walk_payloads_cover_every_field_type() -> None:
    """The generator knows every field type the entities use, so no field is silently skipped."""
    handled = {str, bool, int, Decimal, dt.date, dt.datetime, uuid.UUID, dict[str, Any]}
    unknown = [
        (e.name, f.name)
        for e in ENTITIES
        for f in e.fields
        if f.python_type not in handled and typing.get_origin(f.python_type) is not typing.Literal
    ]
    assert unknown == []
