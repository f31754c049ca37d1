"""Which PostgreSQL FlowGrid uses, how to reach it as each role, and how to migrate it.

With no DATABASE_URL, a private server is started from the embedded wheel in the data dir;
with one, that server is used as is (the README says which roles to create there).
"""

from dataclasses import dataclass
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from store.embedded import EmbeddedPostgres
from store.errors import StoreUnavailable
from store.roles import bootstrap_database
from store.settings import StoreSettings

DATABASE_NAME = "flowgrid"
_MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class DatabaseUrls:
    """SQLAlchemy URLs (psycopg driver) for the schema owner and for the app role."""

    owner: str
    app: str


def normalise_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` DSNs and pin the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def libpq_conninfo(url: str) -> str:
    """The same URL as libpq understands it (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """The server in use: started (and stopped) here when embedded, only checked when external."""

    def __init__(self, settings: StoreSettings, *, durable: bool = True) -> None:
        self.settings = settings
        self.embedded: EmbeddedPostgres | None = None
        self._started_here = False
        if settings.database_url is None:
            self.embedded = EmbeddedPostgres(settings.pg_dir, settings.secrets_dir, durable=durable)

    def start(self) -> DatabaseUrls:
        if self.embedded is None:
            return self._external_urls()
        self._check_data_dir_writable()
        self._started_here = self.embedded.ensure_started()
        passwords = self.embedded.passwords()
        superuser = libpq_conninfo(self.embedded.dsn("postgres", passwords.superuser, "postgres"))
        bootstrap_database(
            superuser,
            database=DATABASE_NAME,
            owner_password=passwords.owner,
            app_password=passwords.app,
        )
        return DatabaseUrls(
            owner=self.embedded.dsn("flowgrid_owner", passwords.owner, DATABASE_NAME),
            app=self.embedded.dsn("flowgrid_app", passwords.app, DATABASE_NAME),
        )

    def stop(self) -> None:
        """Stop the embedded server if this process started it."""
        if self.embedded is not None and self._started_here:
            self.embedded.stop()
            self._started_here = False

    def _external_urls(self) -> DatabaseUrls:
        assert self.settings.database_url is not None
        owner = normalise_url(self.settings.database_url.get_secret_value())
        if self.settings.app_database_url is None:
            raise StoreUnavailable(
                "DATABASE_URL is set but FLOWGRID_APP_DATABASE_URL is not: give the DSN of the "
                "flowgrid_app role (see the README, 'Using your own PostgreSQL')."
            )
        app = normalise_url(self.settings.app_database_url.get_secret_value())
        check_reachable(owner)
        return DatabaseUrls(owner=owner, app=app)

    def _check_data_dir_writable(self) -> None:
        data_dir = self.settings.data_dir
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            probe = data_dir / ".write-probe"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise StoreUnavailable(
                f"data dir {data_dir} is not writable ({exc.strerror}); set FLOWGRID_DATA_DIR"
            ) from None


def check_reachable(url: str) -> None:
    try:
        with psycopg.connect(libpq_conninfo(url), connect_timeout=5) as conn:
            version = conn.info.server_version
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        raise StoreUnavailable(f"cannot reach PostgreSQL at {redacted(url)}: {reason}") from None
    if version < 150000:
        raise StoreUnavailable(
            f"PostgreSQL {version // 10000} is too old; FlowGrid needs 15 or newer"
        )


def migrate(owner_url: str) -> None:
    """Bring the schema to the newest revision, as the owner role."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["url"] = owner_url
    command.upgrade(config, "head")
