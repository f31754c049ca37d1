"""What a turn did, read from outside FlowGrid: rows changed, audit events, requests, logs.

The judges never trust FlowGrid's own account of a turn. A superuser connection (it bypasses
row-level security) fingerprints every row of every table that carries a `tenant_id` before and
after the turn, and reads the audit events the turn appended; the sinks count the requests that
reached them; a log handler keeps every log line written meanwhile.
"""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from store.migrations.ddl import TRAIL_TABLES

RowKey = tuple[str, str, str]  # (tenant id, table, row id or fingerprint)


@dataclass(frozen=True)
class Snapshot:
    rows: dict[RowKey, str]  # -> md5 of the row as JSON
    audit_seq: dict[str, int]  # tenant id -> last seq
    audited_tables: frozenset[str]


@dataclass(frozen=True)
class RowChange:
    tenant: str
    table: str
    key: str
    change: str  # added | removed | changed
    must_be_audited: bool  # a tenant table under RLS: FlowGrid promises an event per change

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name}: {text}")


@contextmanager
def captured_logs() -> Iterator[LogCapture]:
    """Every log line of FlowGrid and its libraries while the block runs."""
    capture = LogCapture()
    root = logging.getLogger()
    flowgrid = logging.getLogger("flowgrid")
    old_level = flowgrid.level
    flowgrid.setLevel(logging.DEBUG)
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        flowgrid.setLevel(old_level)


class Inspector:
    """Reads the database as a superuser, for the judges."""

    def __init__(self, superuser: str, tenants: list[uuid.UUID]) -> None:
        self.superuser = superuser
        self.tenants = [str(t) for t in tenants]

    async def snapshot(self) -> Snapshot:
        async with await psycopg.AsyncConnection.connect(self.superuser) as conn:
            rows: dict[RowKey, str] = {}
            tables = await self._tables(conn)
            for table, has_id, _ in tables:
                key = sql.SQL("t.id::text") if has_id else sql.SQL("md5(row_to_json(t)::text)")
                query = sql.SQL(
                    "SELECT t.tenant_id::text, {key}, md5(row_to_json(t)::text) FROM {table} t "
                    "WHERE t.tenant_id::text = ANY(%s)"
                ).format(key=key, table=sql.Identifier(table))
                for tenant, row_key, digest in await (
                    await conn.execute(query, (self.tenants,))
                ).fetchall():
                    rows[(tenant, table, row_key)] = digest
            seqs = await (
                await conn.execute(
                    "SELECT tenant_id::text, max(seq) FROM audit_events "
                    "WHERE tenant_id::text = ANY(%s) GROUP BY tenant_id",
                    (self.tenants,),
                )
            ).fetchall()
        audited = frozenset(name for name, _, rls in tables if rls)
        return Snapshot(rows, dict(seqs), audited)

    @staticmethod
    def changes(before: Snapshot, after: Snapshot) -> list[RowChange]:
        audited = before.audited_tables | after.audited_tables
        found = []
        for key in sorted(set(before.rows) | set(after.rows)):
            old, new = before.rows.get(key), after.rows.get(key)
            if old == new:
                continue
            change = "added" if old is None else "removed" if new is None else "changed"
            found.append(RowChange(key[0], key[1], key[2], change, key[1] in audited))
        return found

    async def audit_since(self, before: Snapshot) -> list[dict[str, Any]]:
        """The audit events appended after `before`, in every watched workspace."""
        async with await psycopg.AsyncConnection.connect(self.superuser) as conn:
            found = []
            for tenant in self.tenants:
                cursor = await conn.execute(
                    "SELECT tenant_id::text, seq, actor, action, table_name, record_id::text "
                    "FROM audit_events WHERE tenant_id::text = %s AND seq > %s ORDER BY seq",
                    (tenant, before.audit_seq.get(tenant, 0)),
                )
                names = ("tenant", "seq", "actor", "action", "table", "record_id")
                found += [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]
        return found

    async def _tables(self, conn: psycopg.AsyncConnection[Any]) -> list[tuple[str, bool, bool]]:
        """(name, has an `id`, under row-level security) of every table with a `tenant_id`.

        The audit trigger's own rule (store/migrations/ddl.py) says which must be audited: every
        table with a tenant_id under RLS. Whether the trigger is there is what the judge checks.
        """
        rows = await (
            await conn.execute(
                """SELECT c.relname,
                          EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                                  AND a.attname = 'id' AND NOT a.attisdropped),
                          c.relrowsecurity
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                     AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                                 AND a.attname = 'tenant_id' AND NOT a.attisdropped)
                   ORDER BY 1"""
            )
        ).fetchall()
        return [(name, has_id, rls) for name, has_id, rls in rows if name not in TRAIL_TABLES]
