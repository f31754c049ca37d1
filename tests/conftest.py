"""Shared fixtures: one real PostgreSQL per test session, migrated once, reached as the app role.

By default the server is the embedded PostgreSQL 18 from the wheel, in a temporary directory.
With `FLOWGRID_TEST_PG_SUPERUSER_URL` (a superuser DSN, e.g. CI's PostgreSQL 15) the suite creates
a fresh database and the two roles there instead, so both versions stay supported.

Tests isolate from each other by workspace: each creates its own tenants with random ids.
"""

import hashlib
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from store.crypto.providers import LocalKeyProvider
from store.database import DatabaseUrls, libpq_conninfo, migrate
from store.embedded import EmbeddedPostgres
from store.roles import APP_ROLE, OWNER_ROLE, bootstrap_database
from store.runtime import Store
from store.services import tenants

# Nothing in a test run may read the developer's own FlowGrid settings.
for _name in (
    "DATABASE_URL",
    "FLOWGRID_APP_DATABASE_URL",
    "FLOWGRID_DATA_DIR",
    "FLOWGRID_KMS",
    "FLOWGRID_KMS_ENDPOINT",
    "NEXUS_MODEL",
    "ANTHROPIC_API_KEY",
):
    os.environ.pop(_name, None)


@dataclass(frozen=True)
class TestDatabase:
    """How to reach the test database as each role (SQLAlchemy URLs and a libpq superuser DSN)."""

    __test__ = False  # a fixture value, not a test class

    urls: DatabaseUrls
    superuser: str  # libpq conninfo, connected to the test database
    database: str
    server_version: int

    @property
    def owner(self) -> str:
        return libpq_conninfo(self.urls.owner)

    @property
    def app(self) -> str:
        return libpq_conninfo(self.urls.app)


def _external(superuser_url: str) -> Iterator[TestDatabase]:
    name = f"flowgrid_test_{secrets.token_hex(4)}"
    # The roles are shared by every database of the server, so parallel test workers must agree
    # on their passwords: derive them from the superuser DSN instead of drawing them.
    owner_pw, app_pw = (
        hashlib.sha256(f"{superuser_url}|{role}".encode()).hexdigest() for role in ("owner", "app")
    )
    base = libpq_conninfo(superuser_url)
    bootstrap_database(base, database=name, owner_password=owner_pw, app_password=app_pw)
    host = psycopg.conninfo.conninfo_to_dict(base)
    where = f"{host.get('host', '127.0.0.1')}:{host.get('port', 5432)}"
    urls = DatabaseUrls(
        owner=f"postgresql+psycopg://{OWNER_ROLE}:{owner_pw}@{where}/{name}",
        app=f"postgresql+psycopg://{APP_ROLE}:{app_pw}@{where}/{name}",
    )
    superuser = psycopg.conninfo.make_conninfo(base, dbname=name)
    try:
        yield _ready(urls, superuser, name)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _embedded(root: Path) -> Iterator[TestDatabase]:
    server = EmbeddedPostgres(root / "pg", root / "secrets", durable=False)
    server.ensure_started()
    pw = server.passwords()
    superuser_base = libpq_conninfo(server.dsn("postgres", pw.superuser, "postgres"))
    bootstrap_database(
        superuser_base, database="flowgrid", owner_password=pw.owner, app_password=pw.app
    )
    urls = DatabaseUrls(
        owner=server.dsn(OWNER_ROLE, pw.owner, "flowgrid"),
        app=server.dsn(APP_ROLE, pw.app, "flowgrid"),
    )
    try:
        yield _ready(
            urls, libpq_conninfo(server.dsn("postgres", pw.superuser, "flowgrid")), "flowgrid"
        )
    finally:
        server.stop()


def _ready(urls: DatabaseUrls, superuser: str, name: str) -> TestDatabase:
    migrate(urls.owner)
    with psycopg.connect(superuser) as conn:
        version = conn.info.server_version
    return TestDatabase(urls=urls, superuser=superuser, database=name, server_version=version)


@pytest.fixture(scope="session")
def test_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabase]:
    external = os.environ.get("FLOWGRID_TEST_PG_SUPERUSER_URL")
    if external:
        yield from _external(external)
    else:
        yield from _embedded(tmp_path_factory.mktemp("pg"))


@pytest.fixture(scope="session")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture
async def store(test_db: TestDatabase, keystore: Path) -> AsyncIterator[Store]:
    """A Store on the app role with the local key provider (one per test: engines are per loop)."""
    instance = Store(test_db.urls, LocalKeyProvider(keystore), pool_size=5)
    try:
        yield instance
    finally:
        await instance.close()


MakeWorkspace = Callable[..., Awaitable[uuid.UUID]]


@pytest.fixture
def make_workspace(store: Store) -> MakeWorkspace:
    """Create a fresh workspace (tenant) and return its id."""

    async def make(name: str = "Test workspace", owner: str | None = None) -> uuid.UUID:
        email = owner or f"owner-{secrets.token_hex(4)}@example.com"
        created = await tenants.create_workspace(
            store, name=name, owner_email=email, actor="system:test"
        )
        return created.tenant_id

    return make
