"""Tenant isolation, proved against the real database as the application role.

"Cross-tenant reads are impossible through the application role": these tests connect as
`flowgrid_app` (raw psycopg, or the Store's own pooled sessions) and try every way across the
boundary that notes/security-checks.md section 1 lists (RLS-03, -04, -05, -06, -07, -11, E13):

- without a tenant a statement fails; it never returns rows, nor an empty result;
- with tenant A set, B's rows cannot be seen, written, moved, updated or deleted;
- a pooled connection reused after a tenant's transaction carries no tenant;
- unique keys and foreign keys tell A nothing about whether a value or id exists in B;
- `row_security = off` and TRUNCATE are refused, and so is a session without a proper actor.

Two workspaces, A and B, are seeded once per module with a row in every tenant table, so each
per-table test below has something to leak.
"""

import asyncio
import re
import secrets
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

from store.crypto.providers import LocalKeyProvider
from store.entities import BY_NAME, ENTITIES, Entity
from store.errors import InvalidInput
from store.models import (
    PLATFORM_TABLES,
    ApprovalRequest,
    Channel,
    ChatMessage,
    Conversation,
    CustomFieldDefinition,
    Integration,
    ListMembership,
    Member,
    Message,
    Tagging,
    metadata,
    tenant_tables,
)
from store.models.base import utcnow
from store.roles import APP_ROLE
from store.runtime import Store
from store.services import records, tenants
from store.tenancy import TenantSession, check_actor
from tests import conftest

ACTOR = "member:isolation-test"
TENANT_TABLES = tenant_tables()
UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
SET_TENANT = "SELECT set_config('app.tenant_id', %s, true), set_config('app.actor', %s, true)"


# --- two seeded workspaces ----------------------------------------------------------------


@dataclass(frozen=True)
class Workspace:
    """A seeded workspace: its id, and the id of a row seeded in each table that has ids."""

    tenant: uuid.UUID
    ids: Mapping[str, uuid.UUID]  # table name -> id of a row seeded there


@dataclass(frozen=True)
class World:
    a: Workspace
    b: Workspace


async def _insert(ts: TenantSession, model: type[SQLModel], /, **values: Any) -> Any:
    """A row of a table that has no entity service, written as the app role in this session.

    The usual row columns (id, timestamps, version) are filled in where the table has them.
    Returns the row's id, if it has one.
    """
    table: sa.Table = model.__table__  # pyright: ignore[reportAttributeAccessIssue]
    now = utcnow()
    usual = {"id": uuid.uuid4(), "created_at": now, "updated_at": now, "version": 1}
    row = {k: v for k, v in usual.items() if k in table.columns} | values
    await ts.db.execute(sa.insert(table).values(tenant_id=ts.tenant_id, **row))
    return row.get("id")


def _sample(column: sa.Column[Any]) -> Any:
    """A valid value for a NOT NULL column, from its type alone."""
    kind = column.type
    samples: list[tuple[type, Any]] = [
        (sa.Enum, lambda: kind.enums[0]),  # pyright: ignore[reportAttributeAccessIssue]
        (sa.Uuid, uuid.uuid4),
        (sa.DateTime, utcnow),
        (sa.Date, lambda: utcnow().date()),
        (sa.Boolean, lambda: False),
        (sa.Integer, lambda: 1),  # BigInteger too
        (sa.Numeric, lambda: 0),
        (sa.LargeBinary, lambda: secrets.token_bytes(32)),
        (sa.String, lambda: secrets.token_hex(4)),  # Text too
        (sa.JSON, dict),
    ]
    for python_type, make in samples:
        if isinstance(kind, python_type):
            return make()
    raise AssertionError(f"no sample value for {column.table.name}.{column.name} ({kind})")


async def _fill_empty_tables(ts: TenantSession) -> None:
    """One row in each tenant table the workspace has none in and the app role may insert into.

    Nullable columns stay NULL; a required reference points at a row of the same workspace
    (tables are filled parents first). This keeps the per-table tests meaningful for tables
    without a service, including ones added after this test was written.
    """
    for table in metadata.sorted_tables:
        if table.name not in TENANT_TABLES:
            continue
        present = await ts.db.execute(sa.select(sa.func.count()).select_from(table))
        may_insert = await ts.db.execute(
            sa.text("SELECT has_table_privilege(current_user, :t, 'INSERT')"), {"t": table.name}
        )
        if present.scalar_one() or not may_insert.scalar_one():
            continue
        row: dict[str, Any] = {"tenant_id": ts.tenant_id}
        for column in table.columns:
            if column.nullable or column.name in row:
                continue
            row[column.name] = _sample(column)
        for fk in table.foreign_key_constraints:
            local = [c.name for c in fk.columns if c.name != "tenant_id"]
            if not all(name in row for name in local):
                continue  # an optional reference: left NULL
            parent = fk.referred_table
            remote = [e.column.name for e in fk.elements if e.parent.name != "tenant_id"]
            found = await ts.db.execute(sa.select(*(parent.c[n] for n in remote)).limit(1))
            row |= dict(zip(local, found.one(), strict=True))
        await ts.db.execute(sa.insert(table).values(**row))


async def _seed_workspace(store: Store, label: str) -> Workspace:
    """A workspace with at least one row in every tenant table, through the services."""
    created = await tenants.create_workspace(
        store,
        name=f"Isolation {label}",
        owner_email=f"{label}-{secrets.token_hex(4)}@example.com",
        actor="system:test",
    )
    ids: dict[str, uuid.UUID] = {}
    async with store.tenant_session(created.tenant_id, ACTOR) as ts:

        async def make(entity: str, **data: Any) -> uuid.UUID:
            record = await records.create_record(ts, BY_NAME[entity], data)
            ids[BY_NAME[entity].table_name] = record.id  # pyright: ignore[reportAttributeAccessIssue]
            return record.id  # pyright: ignore[reportAttributeAccessIssue]

        async def put(model: type[SQLModel], **values: Any) -> uuid.UUID:
            row_id = await _insert(ts, model, **values)
            if row_id is not None:
                ids[str(model.__tablename__)] = row_id
            return row_id

        members: sa.Table = Member.__table__  # pyright: ignore[reportAttributeAccessIssue]
        member = (await ts.db.execute(sa.select(members.c.id))).scalar_one()
        ids["members"] = member
        company = await make("company", name=f"{label} Corp", domain=f"{label}.example")
        contact = await make(
            "contact", first_name=label, email=f"ceo@{label}.example", company_id=company
        )
        pipeline = await make("pipeline", name=f"{label} pipeline")
        stage = await make("stage", pipeline_id=pipeline, name="Intro")
        deal = await make(
            "deal",
            name=f"{label} renewal",
            contact_id=contact,
            company_id=company,
            pipeline_id=pipeline,
            stage_id=stage,
        )
        product = await make("product", name="Widget", sku=f"W-{label}")
        await make("line_item", deal_id=deal, product_id=product, quantity=2)
        await make("activity", subject="Call", record_type="contact", record_id=contact)
        await make("task", title="Follow up", record_type="deal", record_id=deal)
        await make("note", body="Met at the fair", record_type="company", record_id=company)
        await make("ticket", subject="Broken widget", contact_id=contact, company_id=company)
        tag = await make("tag", name="vip")
        a_list = await make("list", name="Webinar", member_type="contact")
        await put(Tagging, tag_id=tag, record_type="contact", record_id=contact)
        await put(ListMembership, list_id=a_list, record_id=contact)
        conversation = await put(Conversation, member_id=member)
        await put(ChatMessage, conversation_id=conversation, role="user")
        channel = await put(Channel, slack_id=f"C{secrets.token_hex(6).upper()}", is_private=False)
        await put(Message, channel_id=channel, ts="1700000000.000100", author="U1")
        await put(
            ApprovalRequest,
            conversation_id=conversation,
            run_id=uuid.uuid4(),
            tool_call_id="call-1",
            tool_name="delete_contact",
            args_hash="0" * 64,
            state="pending",
            expires_at=utcnow() + timedelta(hours=1),
        )
        await put(Integration, kind="webhook", enabled=True)
        await put(
            CustomFieldDefinition,
            entity="contact",
            key=f"only_in_{label}_{secrets.token_hex(3)}",
            label="Only here",
            type="text",
        )
        # Every other tenant table (the audit trail's own, any added later) gets a plain row.
        await _fill_empty_tables(ts)
    return Workspace(created.tenant_id, ids)


@pytest.fixture(scope="module")
def world(test_db: conftest.TestDatabase, keystore: Path) -> World:
    """Workspaces A and B, seeded once for the module on a Store of their own."""

    async def seed() -> World:
        store = Store(test_db.urls, LocalKeyProvider(keystore), pool_size=2)
        try:
            return World(await _seed_workspace(store, "a"), await _seed_workspace(store, "b"))
        finally:
            await store.close()

    return asyncio.run(seed())


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture
def app(test_db: conftest.TestDatabase) -> Iterator[psycopg.Connection[Any]]:
    """A fresh connection as flowgrid_app, in transaction mode, with no tenant set."""
    with psycopg.connect(test_db.app) as conn:
        yield conn


@pytest.fixture(scope="module")
def grants(test_db: conftest.TestDatabase) -> dict[str, set[str]]:
    """Which row privileges the app role holds on each table (the audit trail is read-only)."""
    with psycopg.connect(test_db.superuser) as conn:
        rows = conn.execute(
            """SELECT c.relname, priv FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace,
                    unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS priv
               WHERE n.nspname = 'public' AND c.relkind = 'r'
                 AND has_table_privilege(%s, c.oid, priv)""",
            (APP_ROLE,),
        ).fetchall()
    granted: dict[str, set[str]] = {}
    for table, privilege in rows:
        granted.setdefault(table, set()).add(privilege)
    return granted


def _set_tenant(conn: psycopg.Connection[Any], tenant: uuid.UUID) -> None:
    """What tenant_session does: tenant and actor, for this transaction only."""
    conn.execute(SET_TENANT, (str(tenant), ACTOR))


def _key_columns(table: str) -> list[str]:
    return [column.name for column in metadata.tables[table].primary_key.columns]


def _truth(test_db: conftest.TestDatabase, table: str, tenant: uuid.UUID) -> list[dict[str, Any]]:
    """What is really in a table for a tenant, read as the superuser (no RLS), in key order."""
    query = sql.SQL("SELECT * FROM {} WHERE tenant_id = %s ORDER BY {}").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, _key_columns(table)))
    )
    with psycopg.connect(test_db.superuser, row_factory=dict_row) as conn:
        return conn.execute(query, (tenant,)).fetchall()


def _keys(table: str, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(row[c] for c in _key_columns(table)) for row in rows]


def _by_keys(table: str, keys: list[tuple[Any, ...]]) -> tuple[sql.Composed, list[Any]]:
    """`(k1, k2) IN ((%s, %s), ...)` over the primary key, with its parameters."""
    columns = _key_columns(table)
    one = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(columns)))
    predicate = sql.SQL("({}) IN ({})").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)), sql.SQL(", ").join([one] * len(keys))
    )
    return predicate, [value for key in keys for value in key]


def _insert_row(conn: psycopg.Connection[Any], table: str, row: Mapping[str, Any]) -> None:
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, row)),
        sql.SQL(", ").join(sql.Placeholder() * len(row)),
    )
    conn.execute(query, [Jsonb(v) if isinstance(v, dict | list) else v for v in row.values()])


def _shape(message: str | None) -> str | None:
    """An error message with its ids replaced, to compare what two errors reveal."""
    return None if message is None else UUID_PATTERN.sub("<id>", message)


def _statement(template: str, table: str) -> sql.Composed:
    return sql.SQL(template).format(sql.Identifier(table))


def _refusal(grants: dict[str, set[str]], table: str, privilege: str) -> str:
    """How a write the policy forbids fails: by this table's policy, or earlier if the privilege
    is not granted. (Naming the table matters: a trigger's write elsewhere may fail too.)"""
    if privilege in grants.get(table, set()):
        return f'violates row-level security policy for table "{table}"'
    return f"permission denied for table {table}"


# --- without a tenant, everything fails (RLS-03) ------------------------------------------

NO_TENANT_STATEMENTS = (
    ("SELECT", "SELECT * FROM {}"),
    ("SELECT", "SELECT count(*) FROM {}"),
    ("UPDATE", "UPDATE {} SET tenant_id = tenant_id"),
    ("DELETE", "DELETE FROM {}"),
)


def _assert_every_statement_fails(
    conn: psycopg.Connection[Any], grants: dict[str, set[str]], table: str, sqlstate: str
) -> None:
    """Each statement raises `sqlstate` (the policy failing); one the app role is not granted
    may instead fail on the privilege (42501), whichever PostgreSQL checks first."""
    for privilege, template in NO_TENANT_STATEMENTS:
        with pytest.raises(psycopg.Error) as caught:
            conn.execute(_statement(template, table))
        conn.rollback()
        expected = {sqlstate} if privilege in grants[table] else {sqlstate, "42501"}
        assert caught.value.sqlstate in expected, (template, str(caught.value))


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_no_tenant_in_a_fresh_session_is_an_error(
    app: psycopg.Connection[Any], grants: dict[str, set[str]], world: World, table: str
) -> None:
    """A session that never set app.tenant_id gets an error (unknown setting), never rows."""
    _assert_every_statement_fails(app, grants, table, "42704")


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_no_tenant_after_a_committed_tenant_transaction_is_an_error(
    app: psycopg.Connection[Any], grants: dict[str, set[str]], world: World, table: str
) -> None:
    """After set_config(..., true) and COMMIT the setting is '' and the policy's cast fails (E3)."""
    with app.transaction():
        _set_tenant(app, world.a.tenant)
        seen = app.execute(_statement("SELECT count(*) FROM {}", table)).fetchone()
        assert seen is not None and seen[0] > 0
    _assert_every_statement_fails(app, grants, table, "22P02")


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_row_security_off_is_refused_not_a_bypass(
    app: psycopg.Connection[Any], world: World, table: str
) -> None:
    """With row_security off, a query RLS would filter fails instead of seeing all rows (E12)."""
    _set_tenant(app, world.a.tenant)
    app.execute("SET LOCAL row_security = off")
    with pytest.raises(
        psycopg.errors.InsufficientPrivilege, match=f'row-level security policy for table "{table}"'
    ):
        app.execute(_statement("SELECT * FROM {}", table))


# --- one tenant cannot see or touch another's rows (RLS-05) -------------------------------


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_both_workspaces_have_rows_in_every_tenant_table(
    test_db: conftest.TestDatabase, world: World, table: str
) -> None:
    """The seed reaches every table, so no per-table test here passes for lack of data.

    A new tenant table fails this until `_seed_workspace` writes a row into it.
    """
    assert _truth(test_db, table, world.a.tenant)
    assert _truth(test_db, table, world.b.tenant)


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_a_tenant_sees_exactly_its_own_rows(
    test_db: conftest.TestDatabase, app: psycopg.Connection[Any], world: World, table: str
) -> None:
    """With A set, a bare SELECT returns A's rows and only those; B's, even by key, return none."""
    b_keys = _keys(table, _truth(test_db, table, world.b.tenant))
    key_list = sql.SQL(", ").join(map(sql.Identifier, _key_columns(table)))
    _set_tenant(app, world.a.tenant)
    seen = app.execute(
        sql.SQL("SELECT {} FROM {} ORDER BY {}").format(key_list, sql.Identifier(table), key_list)
    ).fetchall()
    assert seen == _keys(table, _truth(test_db, table, world.a.tenant))
    predicate, params = _by_keys(table, b_keys)
    by_key = app.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE {}").format(sql.Identifier(table), predicate), params
    )
    assert by_key.fetchone() == (0,)
    by_tenant = app.execute(
        _statement("SELECT count(*) FROM {} WHERE tenant_id = %s", table), (world.b.tenant,)
    )
    assert by_tenant.fetchone() == (0,)


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_update_and_delete_of_another_tenants_rows_touch_nothing(
    test_db: conftest.TestDatabase,
    app: psycopg.Connection[Any],
    grants: dict[str, set[str]],
    world: World,
    table: str,
) -> None:
    """B's rows, addressed by primary key with A set, are neither updated nor deleted.

    Where the app role holds UPDATE/DELETE the statements match 0 rows, and a control run as B
    shows the very same statement does reach them; where it does not, they are refused.
    """
    before = _truth(test_db, table, world.b.tenant)
    predicate, params = _by_keys(table, _keys(table, before))
    update = sql.SQL("UPDATE {} SET tenant_id = tenant_id WHERE {}").format(
        sql.Identifier(table), predicate
    )
    delete = sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(table), predicate)
    for privilege, statement in (("UPDATE", update), ("DELETE", delete)):
        _set_tenant(app, world.a.tenant)
        if privilege in grants[table]:
            assert app.execute(statement, params).rowcount == 0
            app.commit()
            _set_tenant(app, world.b.tenant)
            assert app.execute(statement, params).rowcount == len(before), "control"
            app.rollback()
        else:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement, params)
            app.rollback()
    assert _truth(test_db, table, world.b.tenant) == before


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_insert_into_another_tenant_is_refused(
    test_db: conftest.TestDatabase,
    app: psycopg.Connection[Any],
    grants: dict[str, set[str]],
    world: World,
    table: str,
) -> None:
    """A complete row with tenant_id = B, written while A is set, fails WITH CHECK (42501, E8)."""
    row = {**_truth(test_db, table, world.a.tenant)[0], "tenant_id": world.b.tenant}
    _set_tenant(app, world.a.tenant)
    with pytest.raises(
        psycopg.errors.InsufficientPrivilege, match=_refusal(grants, table, "INSERT")
    ):
        _insert_row(app, table, row)


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_moving_a_row_to_another_tenant_is_refused(
    test_db: conftest.TestDatabase,
    app: psycopg.Connection[Any],
    grants: dict[str, set[str]],
    world: World,
    table: str,
) -> None:
    """UPDATE ... SET tenant_id = B on A's own rows fails WITH CHECK (42501, E8)."""
    predicate, params = _by_keys(table, _keys(table, _truth(test_db, table, world.a.tenant)))
    move = sql.SQL("UPDATE {} SET tenant_id = %s WHERE {}").format(sql.Identifier(table), predicate)
    _set_tenant(app, world.a.tenant)
    with pytest.raises(
        psycopg.errors.InsufficientPrivilege, match=_refusal(grants, table, "UPDATE")
    ):
        app.execute(move, [world.b.tenant, *params])


@pytest.mark.parametrize("table", sorted({*TENANT_TABLES, *PLATFORM_TABLES, "alembic_version"}))
def test_truncate_is_refused(app: psycopg.Connection[Any], world: World, table: str) -> None:
    """TRUNCATE ignores row security and would empty every tenant at once (E13)."""
    _set_tenant(app, world.a.tenant)
    with pytest.raises(
        psycopg.errors.InsufficientPrivilege, match=f"permission denied for table {table}"
    ):
        app.execute(_statement("TRUNCATE {} CASCADE", table))


# --- a pooled connection carries no tenant into the next request (RLS-04) -----------------


def test_a_reused_connection_carries_no_tenant_after_commit(
    test_db: conftest.TestDatabase, world: World
) -> None:
    """Same backend, next transaction, no tenant set: the setting is empty and queries fail."""
    with psycopg.connect(test_db.app) as conn:
        with conn.transaction():
            first_pid = conn.execute("SELECT pg_backend_pid()").fetchone()
            _set_tenant(conn, world.a.tenant)
            seen = conn.execute("SELECT count(*) FROM companies").fetchone()
            assert seen is not None and seen[0] > 0
        after = conn.execute(
            "SELECT pg_backend_pid(), current_setting('app.tenant_id', true)"
        ).fetchone()
        assert after is not None and first_pid is not None
        assert after[0] == first_pid[0], "the test must reuse the same server connection"
        assert after[1] in ("", None), "the tenant outlived its transaction"
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            conn.execute("SELECT count(*) FROM companies")


def test_a_session_wide_set_would_leak_which_is_why_it_is_never_used(
    test_db: conftest.TestDatabase, world: World
) -> None:
    """Control for the test above: with a plain SET (is_local false) the next request reads A (E4).

    This shows the reuse test can tell a leak from no leak; the product never uses plain SET.
    """
    with psycopg.connect(test_db.app) as conn:
        with conn.transaction():
            conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(world.a.tenant),))
        leaked = conn.execute("SELECT DISTINCT tenant_id FROM companies").fetchall()
        assert leaked == [(world.a.tenant,)]


async def test_the_store_pool_carries_no_tenant_after_a_tenant_session(
    test_db: conftest.TestDatabase, keystore: Path, world: World
) -> None:
    """The product path: a tenant_session, then the next session on the same pooled connection."""
    store = Store(test_db.urls, LocalKeyProvider(keystore), pool_size=1)
    try:
        async with store.tenant_session(world.a.tenant, ACTOR) as ts:
            first_pid = (await ts.db.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
            page = await records.list_records(ts, BY_NAME["company"])
            assert page.items
        async with store.dangerously_unscoped_session() as db:
            pid, setting = (
                await db.execute(
                    sa.text("SELECT pg_backend_pid(), current_setting('app.tenant_id', true)")
                )
            ).one()
            assert pid == first_pid, "the test must reuse the same pooled connection"
            assert setting in ("", None)
            with pytest.raises(DBAPIError) as caught:
                await db.execute(sa.text("SELECT id FROM companies"))
            assert getattr(caught.value.orig, "sqlstate", None) == "22P02"
    finally:
        await store.close()


# --- unique and foreign keys are no existence oracle (RLS-06, RLS-07) ---------------------


def _copy(row: Mapping[str, Any], tenant: uuid.UUID, **changes: Any) -> dict[str, Any]:
    return {**row, "tenant_id": tenant, "id": uuid.uuid4(), **changes}


@pytest.mark.parametrize(
    ("table", "column"), [("custom_field_definitions", "key"), ("channels", "slack_id")]
)
def test_a_unique_value_of_another_tenant_can_be_used_again(
    test_db: conftest.TestDatabase,
    app: psycopg.Connection[Any],
    world: World,
    table: str,
    column: str,
) -> None:
    """A writes a value unique in B (a custom field key, a channel id): it succeeds, so the
    error cannot reveal that B has it. Control: the same value twice within A is refused."""
    b_row = next(r for r in _truth(test_db, table, world.b.tenant) if r["id"] == world.b.ids[table])
    holding = sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(
        sql.Identifier(table), sql.Identifier(column)
    )
    _set_tenant(app, world.a.tenant)
    assert app.execute(holding, (b_row[column],)).fetchone() == (0,)
    _insert_row(app, table, _copy(b_row, world.a.tenant))
    assert app.execute(holding, (b_row[column],)).fetchone() == (1,)
    with pytest.raises(psycopg.errors.UniqueViolation):
        _insert_row(app, table, _copy(b_row, world.a.tenant))


def test_a_whole_workspace_can_be_copied_beside_the_original(
    test_db: conftest.TestDatabase,
    app: psycopg.Connection[Any],
    grants: dict[str, set[str]],
    world: World,
) -> None:
    """Every row of B the app role may write, same ids and same unique values, fits into an
    empty workspace C.

    If any primary key, unique key or foreign key did not include the tenant, this copy would
    fail on B's values, which is exactly the oracle a tenant must not have (RLS-06, for every
    unique constraint at once).
    """
    copy_to = uuid.uuid4()
    _set_tenant(app, copy_to)
    writable = {t for t in TENANT_TABLES if "INSERT" in grants[t]}
    order = [t.name for t in metadata.sorted_tables if t.name in writable]
    assert len(order) >= 20
    copied = {}
    for table in order:
        rows = _truth(test_db, table, world.b.tenant)
        for row in rows:
            _insert_row(app, table, {**row, "tenant_id": copy_to})
        copied[table] = len(rows)
    for table, count in copied.items():
        assert app.execute(_statement("SELECT count(*) FROM {}", table)).fetchone() == (count,)
    app.rollback()


def _insert_deal_error(
    conn: psycopg.Connection[Any], tenant: uuid.UUID, contact_id: uuid.UUID
) -> psycopg.Error:
    _set_tenant(conn, tenant)
    now = utcnow()
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(
            "INSERT INTO deals (tenant_id, id, created_at, updated_at, version, currency, status, "
            "contact_id) VALUES (%s, %s, %s, %s, 1, 'USD', 'open', %s)",
            (tenant, uuid.uuid4(), now, now, contact_id),
        )
    conn.rollback()
    return caught.value


def test_referencing_another_tenants_row_fails_like_referencing_nothing(
    app: psycopg.Connection[Any], world: World
) -> None:
    """A deal pointing at B's contact fails exactly as one pointing at a random id (E7)."""
    foreign = _insert_deal_error(app, world.a.tenant, world.b.ids["contacts"])
    missing = _insert_deal_error(app, world.a.tenant, uuid.uuid4())
    assert type(foreign) is type(missing) is psycopg.errors.ForeignKeyViolation
    assert foreign.sqlstate == missing.sqlstate == "23503"
    assert foreign.diag.constraint_name == missing.diag.constraint_name
    assert _shape(str(foreign)) == _shape(str(missing))
    assert _shape(foreign.diag.message_detail) == _shape(missing.diag.message_detail)
    # Control: A's own contact is accepted, so the errors above are about the reference.
    _set_tenant(app, world.a.tenant)
    app.execute(
        "INSERT INTO deals (tenant_id, id, created_at, updated_at, version, currency, status, "
        "contact_id) VALUES (%s, %s, now(), now(), 1, 'USD', 'open', %s)",
        (world.a.tenant, uuid.uuid4(), world.a.ids["contacts"]),
    )
    app.rollback()


class _RollBack(Exception):
    """Raised inside a tenant_session to leave it without committing."""


REFERENCES = [(e.name, f.name) for e in ENTITIES for f in e.fields if f.references]


def _required_payload(entity: Entity, own: Workspace) -> dict[str, Any]:
    """The smallest valid payload: required text is 'x', required references point at own rows."""
    data: dict[str, Any] = {}
    for spec in entity.fields:
        if not spec.required:
            continue
        if spec.references:
            data[spec.name] = own.ids[spec.references]
        elif spec.python_type is str:
            data[spec.name] = "x"
        else:
            raise AssertionError(f"no sample value for required {entity.name}.{spec.name}")
    return data


async def _service_refusal(
    store: Store, tenant: uuid.UUID, entity: Entity, data: dict[str, Any]
) -> InvalidInput:
    async with store.tenant_session(tenant, ACTOR) as ts:
        with pytest.raises(InvalidInput) as caught:
            await records.create_record(ts, entity, data)
    return caught.value


@pytest.mark.parametrize(("entity_name", "field"), REFERENCES)
async def test_service_refuses_another_tenants_reference_like_a_random_id(
    store: Store, world: World, entity_name: str, field: str
) -> None:
    """Through the record service, every reference field: B's id and a random id give the same
    domain error with the same message (ids stripped)."""
    entity = BY_NAME[entity_name]
    target = entity.field_map[field].references
    assert target is not None
    base = _required_payload(entity, world.a)
    foreign = await _service_refusal(
        store, world.a.tenant, entity, {**base, field: world.b.ids[target]}
    )
    missing = await _service_refusal(store, world.a.tenant, entity, {**base, field: uuid.uuid4()})
    assert _shape(foreign.detail) == _shape(missing.detail)
    assert field in foreign.detail
    # Control: the same payload with A's own id is accepted (then rolled back).
    with pytest.raises(_RollBack):
        async with store.tenant_session(world.a.tenant, ACTOR) as ts:
            await records.create_record(ts, entity, {**base, field: world.a.ids[target]})
            raise _RollBack


@pytest.mark.parametrize("entity_name", [e.name for e in ENTITIES if "record_id" in e.field_map])
async def test_service_refuses_a_link_to_another_tenants_record_like_a_random_id(
    store: Store, world: World, entity_name: str
) -> None:
    """record_type/record_id links carry no foreign key; the service's own check is no oracle."""
    entity = BY_NAME[entity_name]
    base = {**_required_payload(entity, world.a), "record_type": "contact"}
    foreign = await _service_refusal(
        store, world.a.tenant, entity, {**base, "record_id": world.b.ids["contacts"]}
    )
    missing = await _service_refusal(
        store, world.a.tenant, entity, {**base, "record_id": uuid.uuid4()}
    )
    assert _shape(foreign.detail) == _shape(missing.detail)


async def test_updating_a_reference_to_another_tenants_row_fails_like_a_random_id(
    store: Store, world: World
) -> None:
    """Moving A's deal onto B's contact is refused exactly like moving it onto no contact."""
    deal = BY_NAME["deal"]
    errors = []
    for contact_id in (world.b.ids["contacts"], uuid.uuid4()):
        async with store.tenant_session(world.a.tenant, ACTOR) as ts:
            with pytest.raises(InvalidInput) as caught:
                await records.update_record(
                    ts, deal, world.a.ids["deals"], {"contact_id": contact_id}
                )
            errors.append(_shape(caught.value.detail))
    assert errors[0] == errors[1]


# --- every session names its actor --------------------------------------------------------


@pytest.mark.parametrize(
    "actor", ["", " ", "member:", "nobody", "root:1", "member:a b", "member:\tx", "member:x\n"]
)
async def test_a_mutation_without_a_proper_actor_is_refused(
    store: Store, test_db: conftest.TestDatabase, world: World, actor: str
) -> None:
    """tenant_session refuses an empty or malformed actor before any statement runs."""
    before = len(_truth(test_db, "companies", world.a.tenant))
    with pytest.raises(InvalidInput, match="actor"):
        async with store.tenant_session(world.a.tenant, actor) as ts:
            await records.create_record(ts, BY_NAME["company"], {"name": "Nobody's company"})
    with pytest.raises(InvalidInput):
        check_actor(actor)
    assert len(_truth(test_db, "companies", world.a.tenant)) == before
