"""Fixtures for the encryption tests: a real KMS-compatible HTTP endpoint, and raw-database eyes.

The `aws` key provider is exercised against moto's server, started in this process on
127.0.0.1 and reached over HTTP by boto3, exactly as a real KMS endpoint would be. moto does
not enforce key states (a disabled key still decrypts there), which is why `AwsKmsProvider`
checks DescribeKey itself; the tests below prove that check, not moto's behaviour.

`superuser_scan` reads every column of every table as the PostgreSQL superuser (which bypasses
row-level security), so "no plaintext anywhere" covers tables added later (audit) automatically.
"""

import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg
import pytest
from moto.server import ThreadedMotoServer
from psycopg import sql

from store.crypto.providers import AwsKmsProvider
from store.runtime import Store
from store.services import tenants
from tests.conftest import TestDatabase

ACTOR = "member:crypto-test"
_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class MotoKms:
    """moto's server in a thread on a free local port; `stop()` really closes the socket."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.running = True

    def client(self) -> Any:
        return boto3.client("kms", endpoint_url=self.endpoint, region_name="us-east-1")

    def stop(self) -> None:
        if not self.running:
            return
        self._server.stop()
        # ThreadedMotoServer.stop() only ends serve_forever; without closing the listening
        # socket, clients would hang in its backlog instead of being refused.
        inner = self._server._server  # pyright: ignore[reportPrivateUsage]
        if inner is not None:
            inner.server_close()
        self.running = False


@pytest.fixture(scope="session")
def aws_env() -> Iterator[None]:
    """Dummy credentials and region, so botocore never looks for real ones (or for IMDS)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in _AWS_ENV.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def moto_kms(aws_env: None) -> Iterator[MotoKms]:
    server = MotoKms()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def aws_store(test_db: TestDatabase, moto_kms: MotoKms) -> AsyncIterator[Store]:
    """A Store whose workspaces each get a KMS key on the moto endpoint."""
    instance = Store(test_db.urls, AwsKmsProvider(endpoint_url=moto_kms.endpoint), pool_size=5)
    try:
        yield instance
    finally:
        await instance.close()


async def new_workspace(store: Store, name: str = "Crypto test") -> uuid.UUID:
    email = f"owner-{secrets.token_hex(4)}@example.com"
    created = await tenants.create_workspace(
        store, name=name, owner_email=email, actor="system:test"
    )
    return created.tenant_id


# --- raw database access as the superuser ---------------------------------------------------


def superuser_rows(test_db: TestDatabase, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(test_db.superuser) as conn:
        return conn.execute(query, params).fetchall()  # pyright: ignore[reportArgumentType]


def superuser_execute(test_db: TestDatabase, tenant_id: uuid.UUID, query: str, *params: Any) -> int:
    """Run a write as the superuser, scoped to a workspace only so the audit trigger accepts it.

    RLS does not bind a superuser; the audit trail's trigger still demands an actor and a tenant.
    """
    with psycopg.connect(test_db.superuser) as conn:
        conn.execute(
            "SELECT set_config('app.actor', 'system:crypto-test', true), "
            "set_config('app.tenant_id', %s, true)",
            (str(tenant_id),),
        )
        return conn.execute(query, params).rowcount  # pyright: ignore[reportArgumentType]


def superuser_set(
    test_db: TestDatabase, table: str, column: str, row_id: uuid.UUID, value: Any
) -> None:
    """Overwrite one stored value of one row, as someone with raw database access could."""
    ((tenant_id,),) = superuser_rows(
        test_db, f"SELECT tenant_id FROM {table} WHERE id = %s", row_id
    )
    changed = superuser_execute(
        test_db, tenant_id, f"UPDATE {table} SET {column} = %s WHERE id = %s", value, row_id
    )
    assert changed == 1, (table, column, row_id)


def superuser_value(test_db: TestDatabase, table: str, column: str, row_id: uuid.UUID) -> Any:
    ((value,),) = superuser_rows(test_db, f"SELECT {column} FROM {table} WHERE id = %s", row_id)
    return value


@dataclass(frozen=True)
class Hit:
    table: str
    column: str
    needle: str
    how: str


def _text_of(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _hits_in(value: Any, needles: dict[str, bytes]) -> Iterator[tuple[str, str]]:
    """(needle, how) for every plaintext found in one stored value.

    Besides the plaintext itself, its hex encoding is looked for, in case something stored a
    value hex-encoded rather than encrypted.
    """
    if value is None:
        return
    if isinstance(value, bytes | bytearray | memoryview):
        haystack = bytes(value).lower()
        how = "bytea"
    else:
        haystack = _text_of(value).lower().encode()
        how = "text"
    for needle, needle_bytes in needles.items():
        if needle_bytes in haystack:
            yield needle, how
        elif needle_bytes.hex().encode() in haystack:
            yield needle, f"{how} (hex-encoded)"


def all_tables(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' "
        "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
    ).fetchall()


def superuser_scan(test_db: TestDatabase, plaintexts: Iterable[str]) -> list[Hit]:
    """Every place a plaintext (case-insensitively) appears in any column of any table.

    Text and other scalar types are compared as their text, jsonb as its JSON text, and bytea
    as raw bytes; each also for the hex encoding of the plaintext.
    """
    needles = {p.lower(): p.lower().encode() for p in plaintexts}
    hits: list[Hit] = []
    with psycopg.connect(test_db.superuser) as conn:
        tables = all_tables(conn)
        assert len(tables) >= 20, f"expected the whole schema, saw only {tables}"
        for schema, table in tables:
            with conn.cursor(name=f"scan_{secrets.token_hex(4)}") as cursor:
                cursor.itersize = 5000
                cursor.execute(
                    sql.SQL("SELECT * FROM {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                )
                columns: list[str] = []
                for row in cursor:
                    if not columns:
                        columns = [d.name for d in cursor.description or ()]
                    for column, value in zip(columns, row, strict=True):
                        hits.extend(
                            Hit(f"{schema}.{table}", column, needle, how)
                            for needle, how in _hits_in(value, needles)
                        )
    return hits


def count_rows(test_db: TestDatabase, tenant_id: uuid.UUID) -> dict[str, int]:
    """Rows per tenant table for one workspace (as the superuser, so RLS hides nothing)."""
    with psycopg.connect(test_db.superuser) as conn:
        tables = [
            t
            for (t,) in conn.execute(
                "SELECT table_name FROM information_schema.columns "
                "WHERE column_name = 'tenant_id' AND table_schema = 'public' ORDER BY 1"
            ).fetchall()
        ]
        return {
            t: conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE tenant_id = %s").format(sql.Identifier(t)),
                (tenant_id,),
            ).fetchone()[0]  # pyright: ignore[reportOptionalSubscript]
            for t in tables
        }
