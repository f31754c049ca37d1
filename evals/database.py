"""A private, throwaway PostgreSQL for the benchmarks and the evals.

Both start the embedded PostgreSQL from the wheel in a temporary directory (never the user's
data dir), create the roles and schema exactly as FlowGrid does, and delete it all afterwards.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from store.database import DatabaseUrls, libpq_conninfo, migrate
from store.embedded import EmbeddedPostgres
from store.roles import APP_ROLE, OWNER_ROLE, bootstrap_database


@dataclass(frozen=True)
class ScratchDatabase:
    """How to reach the throwaway database: as FlowGrid does, and as a superuser (judges)."""

    urls: DatabaseUrls
    superuser: str  # libpq conninfo to the flowgrid database; bypasses row-level security
    server: EmbeddedPostgres


@contextmanager
def private_database(root: Path) -> Iterator[ScratchDatabase]:
    """A fresh embedded PostgreSQL under `root`, bootstrapped and migrated; stopped afterwards."""
    server = EmbeddedPostgres(root / "pg", root / "secrets", durable=False)
    server.ensure_started()
    try:
        passwords = server.passwords()
        superuser = libpq_conninfo(server.dsn("postgres", passwords.superuser, "postgres"))
        bootstrap_database(
            superuser,
            database="flowgrid",
            owner_password=passwords.owner,
            app_password=passwords.app,
        )
        urls = DatabaseUrls(
            owner=server.dsn(OWNER_ROLE, passwords.owner, "flowgrid"),
            app=server.dsn(APP_ROLE, passwords.app, "flowgrid"),
        )
        migrate(urls.owner)
        yield ScratchDatabase(
            urls, libpq_conninfo(server.dsn("postgres", passwords.superuser, "flowgrid")), server
        )
    finally:
        server.stop()
