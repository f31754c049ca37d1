"""The audit machinery as the database holds it: a trigger on every tenant table, the trail
tables append-only, key material never copied into the trail, and one digest layout shared by
SQL and Python."""

import datetime as dt
import re
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from sqlmodel import SQLModel

import store.models.audit
from store.audit.chain import GENESIS, StoredEvent, event_hash
from store.migrations.ddl import AUDIT_TRIGGER, KEY_MATERIAL_COLUMNS, TRAIL_TABLES
from store.models import metadata, tenant_tables
from store.roles import OWNER_ROLE
from tests import conftest
from tests.store.audit.helpers import audited_tables


@pytest.fixture(scope="module")
def catalog(test_db: conftest.TestDatabase) -> Any:
    with psycopg.connect(test_db.superuser, row_factory=dict_row, autocommit=True) as conn:  # pyright: ignore[reportArgumentType]
        yield conn


def _triggers(catalog: Any) -> dict[tuple[str, str], dict[str, Any]]:
    rows = catalog.execute(
        """SELECT c.relname, t.tgname, t.tgenabled, p.proname, pg_get_triggerdef(t.oid) AS def
           FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           JOIN pg_proc p ON p.oid = t.tgfoid
           WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal"""
    ).fetchall()
    return {(r["relname"], r["tgname"]): r for r in rows}


def test_trail_tables_are_the_audit_models() -> None:
    models = {
        cls.__table__.name  # pyright: ignore[reportAttributeAccessIssue]
        for cls in vars(store.models.audit).values()
        if isinstance(cls, type) and issubclass(cls, SQLModel) and hasattr(cls, "__table__")
    }
    assert models == set(TRAIL_TABLES)
    assert set(TRAIL_TABLES) <= set(tenant_tables())


def test_every_tenant_table_has_the_audit_trigger(catalog: Any) -> None:
    """A tenant table without it could be changed with no trace: this is the test that fails."""
    triggers = _triggers(catalog)
    assert len(audited_tables()) >= 20
    missing, wrong = [], []
    for table in audited_tables():
        trigger = triggers.get((table, AUDIT_TRIGGER))
        if trigger is None:
            missing.append(table)
            continue
        definition = trigger["def"]
        if not (
            trigger["tgenabled"] == "O"
            and trigger["proname"] == "audit_record_change"
            and "AFTER INSERT OR DELETE OR UPDATE" in definition
            and "FOR EACH ROW" in definition
        ):
            wrong.append((table, definition, trigger["tgenabled"]))
    assert missing == []
    assert wrong == []


def test_the_trail_itself_is_not_audited_but_append_only(catalog: Any) -> None:
    triggers = _triggers(catalog)
    assert [t for t in TRAIL_TABLES if (t, AUDIT_TRIGGER) in triggers] == []
    for table in ("audit_events", "audit_checkpoints", "audit_signing_keys"):
        row_guard = triggers[(table, "append_only")]["def"]
        statement_guard = triggers[(table, "append_only_truncate")]["def"]
        assert "BEFORE DELETE OR UPDATE" in row_guard and "FOR EACH ROW" in row_guard
        assert "BEFORE TRUNCATE" in statement_guard and "FOR EACH STATEMENT" in statement_guard


def test_key_material_is_never_copied_into_the_trail(catalog: Any) -> None:
    """A wrapped subject key kept in an audit event would undo the shredding of a contact; an
    API token's digest in an export would hand its verifier to every admin, a Slack bot token
    the credential itself."""
    triggers = _triggers(catalog)
    needed = {
        (column.table.name, column.name)
        for table in metadata.tables.values()
        if table.name in audited_tables()
        for column in table.columns
        if column.info.get("wrapped_key")
        or column.info.get("blind_index")
        or column.info.get("verifier")
        or column.info.get("credential")
    }
    assert needed, "expected wrapped keys, blind-index tokens and verifiers in the schema"
    omitted = set()
    for table, _column in needed:
        args = re.search(r"audit_record_change\((.*)\)", triggers[(table, AUDIT_TRIGGER)]["def"])
        assert args is not None
        omitted |= {(table, a.strip().strip("'")) for a in args.group(1).split(",") if a.strip()}
    assert needed <= omitted
    assert {(t, c) for t, cols in KEY_MATERIAL_COLUMNS.items() for c in cols} == needed


def test_the_trigger_functions_run_as_the_owner_with_a_fixed_search_path(catalog: Any) -> None:
    rows = catalog.execute(
        """SELECT p.proname, p.prosecdef, r.rolname, p.proconfig FROM pg_proc p
           JOIN pg_roles r ON r.oid = p.proowner
           WHERE p.proname LIKE 'audit\\_%' ORDER BY p.proname"""
    ).fetchall()
    assert {r["proname"]: (r["prosecdef"], r["rolname"]) for r in rows} == {
        "audit_event_digest": (False, OWNER_ROLE),
        "audit_field": (False, OWNER_ROLE),
        "audit_record_change": (True, OWNER_ROLE),
        "audit_refuse_change": (False, OWNER_ROLE),
        "audit_sync_head": (True, OWNER_ROLE),
    }
    for row in rows:
        if row["proname"] in ("audit_event_digest", "audit_field"):
            # Inlined SQL: no SET clause, every name schema-qualified instead.
            assert row["proconfig"] is None
        else:
            assert row["proconfig"] == ["search_path=pg_catalog, public"]


def test_the_digest_is_inlined_and_qualified(catalog: Any) -> None:
    """A SET clause would stop inlining (one GUC switch per field: many times slower)."""
    source = catalog.execute(
        "SELECT prosrc FROM pg_proc WHERE proname = 'audit_event_digest'"
    ).fetchone()["prosrc"]
    calls = re.findall(r"(?<![.\w])([a-z_0-9]+)\(", source)
    assert [c for c in calls if c not in ("extract",)] == [], "unqualified calls in the digest"
    plan = catalog.execute(
        "EXPLAIN VERBOSE SELECT audit_event_digest('\\x00', NULL, 1, NULL, now(), 'system:x', "
        "NULL, NULL, NULL, 'insert', 't', NULL, NULL, NULL)"
    ).fetchall()
    assert "audit_event_digest" not in str(plan) and "sha256" in str(plan)


@pytest.mark.parametrize(
    "event",
    [
        StoredEvent(
            tenant_id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
            seq=1,
            id=uuid.UUID("00000000-0000-4000-8000-000000000002"),
            at=dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
            at_us=1767323045678901,
            actor="agent:run-1/call-2",
            via="agent",
            run_id="run-1",
            tool_call_id="call-2",
            action="update",
            table_name="contacts",
            record_id=uuid.UUID("00000000-0000-4000-8000-000000000003"),
            before='{"a": "ünïcødé ✓", "n": 1.50}',
            after='{"a": "", "n": null}',
            prev_hash=GENESIS,
            hash=b"",
        ),
        StoredEvent(
            tenant_id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
            seq=2**40,
            id=uuid.UUID("00000000-0000-4000-8000-000000000004"),
            at=dt.datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=dt.UTC),
            at_us=-999999,
            actor="system:x",
            via=None,
            run_id=None,
            tool_call_id=None,
            action="insert",
            table_name="tags",
            record_id=None,
            before=None,
            after="{}",
            prev_hash=bytes(range(32)),
            hash=b"",
        ),
    ],
    ids=["all-fields", "nulls-and-negative-time"],
)
def test_sql_and_python_compute_the_same_digest(
    event: StoredEvent, test_db: conftest.TestDatabase
) -> None:
    """The documented layout, pinned: both implementations agree on the same inputs."""
    with psycopg.connect(test_db.app) as conn:
        row = conn.execute(
            "SELECT audit_event_digest(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "%s::jsonb, %s::jsonb), (extract(epoch FROM %s::timestamptz) * 1000000)::bigint",
            (
                event.prev_hash,
                event.tenant_id,
                event.seq,
                event.id,
                event.at,
                event.actor,
                event.via,
                event.run_id,
                event.tool_call_id,
                event.action,
                event.table_name,
                event.record_id,
                event.before,
                event.after,
                event.at,
            ),
        ).fetchone()
    assert row is not None
    assert row[1] == event.at_us
    # The jsonb arguments are normalised by PostgreSQL (1.50 stays 1.50; key order may move),
    # so Python hashes the text PostgreSQL renders, as the verifier does.
    with psycopg.connect(test_db.app) as conn:
        rendered = conn.execute(
            "SELECT %s::jsonb::text, %s::jsonb::text", (event.before, event.after)
        ).fetchone()
    assert rendered is not None
    canonical = StoredEvent(**{**vars(event), "before": rendered[0], "after": rendered[1]})
    assert bytes(row[0]) == event_hash(event.prev_hash, canonical)
