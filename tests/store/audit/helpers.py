"""Helpers for the audit tests: raw database access as each role, and chain inspection.

The audit tests look at the trail from outside the code that reads it: the superuser (who
bypasses row-level security) reads `audit_events` directly, so a test can fail if the product's
own reader or verifier were wrong.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from store.migrations.ddl import TRAIL_TABLES
from store.models import tenant_tables
from tests import conftest

ACTOR = "member:5b0a3c1e-0000-4000-8000-00000000a0d1"


def audited_tables() -> list[str]:
    return [t for t in tenant_tables() if t not in TRAIL_TABLES]


@contextmanager
def scoped(dsn: str, tenant: uuid.UUID, actor: str | None = None) -> Iterator[psycopg.Connection]:
    """One transaction as the role of `dsn`, scoped to `tenant` (and an actor, if given)."""
    with psycopg.connect(dsn, row_factory=dict_row) as conn:  # pyright: ignore[reportArgumentType]
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tenant),))
        if actor is not None:
            conn.execute("SELECT set_config('app.actor', %s, true)", (actor,))
        yield conn


@contextmanager
def superuser(
    test_db: conftest.TestDatabase, *, replica: bool = False
) -> Iterator[psycopg.Connection]:
    """The superuser; `replica` switches ordinary triggers off, as an attacker with it would."""
    with psycopg.connect(test_db.superuser, row_factory=dict_row) as conn:  # pyright: ignore[reportArgumentType]
        if replica:
            conn.execute("SET LOCAL session_replication_role = replica")
        yield conn


def events(
    test_db: conftest.TestDatabase, tenant: uuid.UUID, *, after_seq: int = 0
) -> list[dict[str, Any]]:
    with superuser(test_db) as conn:
        return conn.execute(
            "SELECT * FROM audit_events WHERE tenant_id = %s AND seq > %s ORDER BY seq",
            (tenant, after_seq),
        ).fetchall()


def head_seq(test_db: conftest.TestDatabase, tenant: uuid.UUID) -> int:
    with superuser(test_db) as conn:
        row = conn.execute(
            "SELECT coalesce(max(seq), 0) AS seq FROM audit_events WHERE tenant_id = %s",
            (tenant,),
        ).fetchone()
    assert row is not None
    return row["seq"]


def snapshot(
    test_db: conftest.TestDatabase, tenant: uuid.UUID
) -> dict[tuple[str, str], dict[str, Any]]:
    """Every row of the workspace in every audited table, as jsonb, keyed by (table, id)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    with superuser(test_db) as conn:
        # From the catalog, not the models: every table the database really has.
        tables = [
            r["relname"]
            for r in conn.execute(
                """SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
                   WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
                     AND c.relrowsecurity AND a.attname = 'tenant_id'
                     AND c.relname <> ALL(%s)""",
                (list(TRAIL_TABLES),),
            )
        ]
        for table in tables:
            for row in conn.execute(
                f"SELECT to_jsonb(t) AS doc FROM {table} AS t WHERE tenant_id = %s", (tenant,)
            ):
                rows[(table, row["doc"]["id"])] = row["doc"]
    return rows
