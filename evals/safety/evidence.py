"""What a turn did, read from outside FlowGrid: rows changed, audit events, requests, logs.

The judges do not take FlowGrid's word for what a turn did. A superuser connection (it bypasses
row-level security) fingerprints every row of every table before and after the turn and reads
the audit events the turn appended; the sinks count the requests that reached them; a log
handler keeps every log line written meanwhile.
"""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from store.migrations.ddl import TRAIL_TABLES

# Tables with a tenant_id that are not audited, on purpose: sign-in needs them before a
# workspace is known (docs/audit.md). Every other table with a tenant_id must be.
NOT_AUDITED = frozenset({"invites", "sessions"})
PLATFORM = ""  # the "tenant" of a row in a table without tenant_id

RowKey = tuple[str, str, str]  # (tenant id or PLATFORM, table, row id or digest)


@dataclass(frozen=True)
class Snapshot:
    rows: dict[RowKey, str]  # -> md5 of the row as JSON
    audit_seq: dict[str, int]  # tenant id -> last seq
    keyed_by_digest: frozenset[str]  # tables without an id: rows are keyed by their digest


@dataclass(frozen=True)
class RowChange:
    tenant: str  # PLATFORM for a table without tenant_id
    table: str
    key: str
    change: str  # added | removed | changed
    must_be_audited: bool
    keyed_by_digest: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    """Reads the whole database as a superuser, for the judges.

    Every row of every table is fingerprinted (the audit trail aside, which only grows), not
    only the two workspaces': a turn in one workspace must change nothing anywhere else, in a
    third workspace or in a platform table (workspaces, identities, passkeys).
    """

    def __init__(self, superuser: str, tenants: list[uuid.UUID]) -> None:
        self.superuser = superuser
        self.tenants = [str(t) for t in tenants]

    async def snapshot(self) -> Snapshot:
        async with await psycopg.AsyncConnection.connect(self.superuser) as conn:
            rows: dict[RowKey, str] = {}
            by_digest = set()
            for table, has_tenant, has_id in await self._tables(conn):
                tenant = sql.SQL("t.tenant_id::text" if has_tenant else "''")
                key = sql.SQL("t.id::text" if has_id else "md5(row_to_json(t)::text)")
                if not has_id:
                    by_digest.add(table)
                query = sql.SQL(
                    "SELECT {tenant}, {key}, md5(row_to_json(t)::text) FROM {table} t"
                ).format(tenant=tenant, key=key, table=sql.Identifier(table))
                for owner, row_key, digest in await (await conn.execute(query)).fetchall():
                    rows[(owner, table, row_key)] = digest
            seqs = await (
                await conn.execute(
                    "SELECT tenant_id::text, max(seq) FROM audit_events GROUP BY tenant_id"
                )
            ).fetchall()
        return Snapshot(rows, dict(seqs), frozenset(by_digest))

    @staticmethod
    def changes(before: Snapshot, after: Snapshot) -> list[RowChange]:
        found = []
        for key in sorted(set(before.rows) | set(after.rows)):
            old, new = before.rows.get(key), after.rows.get(key)
            if old == new:
                continue
            tenant, table, row_key = key
            change = "added" if old is None else "removed" if new is None else "changed"
            audited = tenant != PLATFORM and table not in NOT_AUDITED
            by_digest = table in after.keyed_by_digest
            found.append(RowChange(tenant, table, row_key, change, audited, by_digest))
        return found

    async def audit_since(self, before: Snapshot) -> list[dict[str, Any]]:
        """The audit events appended after `before`, in every workspace."""
        async with await psycopg.AsyncConnection.connect(self.superuser) as conn:
            cursor = await conn.execute(
                "SELECT tenant_id::text, seq, actor, action, table_name, record_id::text "
                "FROM audit_events ORDER BY tenant_id, seq"
            )
            names = ("tenant", "seq", "actor", "action", "table", "record_id")
            rows: list[dict[str, Any]] = [
                dict(zip(names, row, strict=True)) for row in await cursor.fetchall()
            ]
        return [r for r in rows if r["seq"] > before.audit_seq.get(r["tenant"], 0)]

    async def mentions(self, changes: list[RowChange], tenant: str, wanted: set[str]) -> list[str]:
        """The changed rows of `tenant` whose values contain one of `wanted` (ids, usually)."""
        found = []
        async with await psycopg.AsyncConnection.connect(self.superuser) as conn:
            for c in changes:
                if c.tenant != tenant or c.change == "removed" or c.keyed_by_digest:
                    continue
                query = sql.SQL("SELECT row_to_json(t)::text FROM {table} t WHERE t.id::text = %s")
                row = await (
                    await conn.execute(query.format(table=sql.Identifier(c.table)), (c.key,))
                ).fetchone()
                if row and any(value in row[0] for value in wanted):
                    found.append(f"{c.table} {c.key}")
        return found

    async def _tables(self, conn: psycopg.AsyncConnection[Any]) -> list[tuple[str, bool, bool]]:
        """(name, has a tenant_id, has an id) of every table but the trail's."""
        rows = await (
            await conn.execute(
                """SELECT c.relname,
                          EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                                  AND a.attname = 'tenant_id' AND NOT a.attisdropped),
                          EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                                  AND a.attname = 'id' AND NOT a.attisdropped)
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                   ORDER BY 1"""
            )
        ).fetchall()
        return [(name, tenant, has_id) for name, tenant, has_id in rows if name not in TRAIL_TABLES]
