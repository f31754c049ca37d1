"""`flowgrid`: serve the app and run the platform chores from a terminal.

Every failure the user can fix is one line on stderr and a non-zero exit; usage mistakes follow
click's usage format (exit 2). No traceback reaches the terminal.
"""

import asyncio
import functools
import json
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from store.database import Database, DatabaseUrls, migrate
from store.errors import DomainError
from store.runtime import Store, key_provider_from
from store.services import tenants
from store.settings import StoreSettings
from web.cli_access import admin_app, token_app
from web.cli_audit import audit_app
from web.cli_bench import bench
from web.cli_eval import evaluate
from web.cli_tools import tools_app
from web.settings import WebSettings

CLI_ACTOR = "system:cli"

app = typer.Typer(
    name="flowgrid",
    help="FlowGrid: the CRM small teams can trust, with Nexus, its AI assistant.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(
    help="The database: migrate it, or print how to reach it.", no_args_is_help=True
)
tenant_app = typer.Typer(help="Workspaces (tenants) and their keys.", no_args_is_help=True)
keys_app = typer.Typer(help="Workspace data keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenant_app, name="tenant")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(tools_app, name="tools")
app.add_typer(admin_app, name="admin")
app.add_typer(token_app, name="token")

_out = Console()
T = TypeVar("T")


class CliError(Exception):
    """A failure to report as one line."""


def fail(message: str, code: int = 1) -> typer.Exit:
    print(f"flowgrid: {message}", file=sys.stderr)
    return typer.Exit(code)


def _settings() -> StoreSettings:
    try:
        return StoreSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CliError(f"bad setting {first['loc'][0]}: {first['msg']}") from None


@contextmanager
def _reported_errors() -> Iterator[None]:
    try:
        yield
    except (DomainError, CliError) as exc:
        raise fail(str(getattr(exc, "detail", exc))) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None


@contextmanager
def _database(settings: StoreSettings) -> Iterator[DatabaseUrls]:
    """The database in use, migrated; an embedded server started here is stopped afterwards."""
    database = Database(settings)
    try:
        urls = database.start()
        migrate(urls.owner)
        yield urls
    finally:
        database.stop()


def _with_store(work: Callable[[Store], Awaitable[T]]) -> T:
    settings = _settings()
    with _database(settings) as urls:

        async def run() -> T:
            store = Store(urls, key_provider_from(settings), pool_size=2)
            try:
                return await work(store)
            finally:
                await store.close()

        return asyncio.run(run())


def _parse_tenant(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CliError(f"{value!r} is not a workspace id (a UUID)") from None


def reporting(command: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with _reported_errors():
            command(*args, **kwargs)

    return wrapper


# --- serve --------------------------------------------------------------------------------


@app.command()
@reporting
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on", min=1, max=65535)] = 8000,
    demo: Annotated[bool, typer.Option(help="Also create a demo workspace")] = False,
) -> None:
    """Migrate, then serve the web app (starting the embedded PostgreSQL when needed)."""
    import uvicorn  # noqa: PLC0415 - only `serve` needs the server

    from web.app import create_app  # noqa: PLC0415 - keeps the other commands light

    settings = _settings()
    _check_port_free(host, port)
    with _database(settings) as urls:
        if demo:
            _out.print(asyncio.run(_ensure_demo(urls, settings)))
        application = create_app(urls=urls, store_settings=settings)
        _out.print(f"FlowGrid on http://{host}:{port}  (Ctrl-C stops it)")
        uvicorn.run(application, host=host, port=port, log_level="warning")


DEMO_NAME = "Demo workspace"


async def _ensure_demo(urls: DatabaseUrls, settings: StoreSettings) -> str:
    """Create the demo workspace once; later starts only say where it is."""
    store = Store(urls, key_provider_from(settings), pool_size=2)
    try:
        existing = [w for w in await tenants.list_workspaces(store) if w.name == DEMO_NAME]
        if existing:
            return f"Demo workspace {existing[0].tenant_id} (created earlier)"
        created = await tenants.create_workspace(
            store, name=DEMO_NAME, owner_email="demo@flowgrid.local", actor=CLI_ACTOR
        )
        return (
            f"Demo workspace {created.tenant_id} for {created.owner_email}\n"
            f"Owner invite (single use): {_invite_url(created.invite_token)}"
        )
    finally:
        await store.close()


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


# --- db -----------------------------------------------------------------------------------


@db_app.command("migrate")
@reporting
def db_migrate() -> None:
    """Bring the schema up to date."""
    with _database(_settings()):
        pass
    _out.print("database is up to date")


@db_app.command("url")
@reporting
def db_url() -> None:
    """Print the owner DSN of the database in use (it contains a password: keep it private)."""
    settings = _settings()
    database = Database(settings)
    try:
        urls = database.start()
    finally:
        database.stop()
    print(urls.owner.replace("postgresql+psycopg://", "postgresql://", 1))


# --- tenant -------------------------------------------------------------------------------


def _invite_url(token: str) -> str:
    return f"{WebSettings().public_url.rstrip('/')}/login?invite={token}"


@tenant_app.command("create")
@reporting
def tenant_create(
    name: Annotated[str, typer.Argument(help="Workspace name")],
    owner: Annotated[str, typer.Option("--owner", help="Email of the workspace owner")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Create a workspace, its key, and a single-use invite for its owner."""
    tenants.check_name(name)
    tenants.check_email(owner)
    created = _with_store(
        lambda store: tenants.create_workspace(store, name=name, owner_email=owner, actor=CLI_ACTOR)
    )
    result = {
        "tenant_id": str(created.tenant_id),
        "owner": created.owner_email,
        "invite_url": _invite_url(created.invite_token),
        "invite_expires_at": created.invite_expires_at.isoformat(),
        "invite_status": "active",  # the invite link works: /login?invite=...
    }
    if as_json:
        print(json.dumps(result))
        return
    _out.print(f"workspace {result['tenant_id']} created")
    _out.print(f"owner invite (single use, until {result['invite_expires_at']}):")
    print(result["invite_url"])


@tenant_app.command("list")
@reporting
def tenant_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Workspaces with their status and key state (never their records)."""
    infos = _with_store(tenants.list_workspaces)
    rows = [
        {
            "tenant_id": str(i.tenant_id),
            "name": i.name,
            "status": i.status,
            "key_provider": i.key_provider,
            "key_state": i.key_state,
            "created_at": i.created_at.isoformat(),
            "retired_at": i.retired_at.isoformat() if i.retired_at else None,
        }
        for i in infos
    ]
    if as_json:
        print(json.dumps({"workspaces": rows}))
        return
    table = Table("tenant_id", "name", "status", "key", "created")
    for r in rows:
        table.add_row(
            r["tenant_id"],
            r["name"],
            r["status"],
            f"{r['key_provider']}:{r['key_state']}",
            r["created_at"][:19],
        )
    _out.print(table)


@tenant_app.command("retire")
@reporting
def tenant_retire(
    tenant_id: Annotated[str, typer.Argument(help="Workspace id")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone")] = False,
) -> None:
    """Cancel a workspace: its key is destroyed (local) or disabled and scheduled for deletion
    (KMS), after which its data, in the database and in any backup, is unreadable."""
    tid = _parse_tenant(tenant_id)
    if not yes:
        raise CliError("retiring destroys the workspace key and cannot be undone; pass --yes")
    state = _with_store(lambda store: tenants.retire_workspace(store, tid, actor=CLI_ACTOR))
    _out.print(f"workspace {tid} retired; key {state}")


# --- keys ---------------------------------------------------------------------------------


@keys_app.command("rotate")
@reporting
def keys_rotate(tenant_id: Annotated[str, typer.Argument(help="Workspace id")]) -> None:
    """Start a new data key version: old data stays readable, new writes use the new key."""
    tid = _parse_tenant(tenant_id)
    version = _with_store(lambda store: tenants.rotate_data_key(store, tid, actor=CLI_ACTOR))
    _out.print(f"workspace {tid} now writes with data key version {version}")


app.command("bench")(bench)
app.command("eval")(evaluate)


def main() -> None:
    app()
