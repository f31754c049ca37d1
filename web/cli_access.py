"""`flowgrid admin invite` and `flowgrid token create`: credentials handed out from a terminal.

Neither takes a secret on the command line (where `ps` and shell history would keep it): the
enrollment link and the token are printed once, and the token is stored only as a digest.
"""

import json
from datetime import UTC, datetime
from types import ModuleType
from typing import Annotated, cast

import typer

from store.auth import api_tokens, signin
from store.runtime import Store
from store.tenancy import Role
from web.settings import WebSettings

admin_app = typer.Typer(help="Platform admins (passkey only).", no_args_is_help=True)
token_app = typer.Typer(help="API and bot tokens for workspace members.", no_args_is_help=True)


def _cli() -> ModuleType:
    # web.cli imports this module to register the commands; importing it back at call time
    # reuses its settings, database and error handling without an import cycle.
    from web import cli  # noqa: PLC0415

    return cli


def enroll_url(token: str) -> str:
    return f"{WebSettings().public_url.rstrip('/')}/platform?enroll={token}"


@admin_app.command("invite")
def admin_invite(
    email: Annotated[str, typer.Argument(help="The platform admin's email")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Print a single-use link (24 h) where a platform admin registers a passkey."""
    cli = _cli()
    with cli._reported_errors():

        async def work(store: Store) -> tuple[str, datetime]:
            return await signin.invite_platform_admin(store, email, datetime.now(UTC))

        token, expires_at = cli._with_store(work)
    result = {
        "email": email.strip().lower(),
        "enroll_url": enroll_url(token),
        "expires_at": expires_at.isoformat(),
    }
    if as_json:
        print(json.dumps(result))
        return
    print(f"passkey enrollment link for {result['email']} (single use, until {expires_at}):")
    print(result["enroll_url"])


@token_app.command("create")
def token_create(
    tenant_id: Annotated[str, typer.Argument(help="Workspace id")],
    email: Annotated[str, typer.Option("--email", help="The member the token acts for")],
    name: Annotated[str, typer.Option("--name", help="What the token is for")],
    role: Annotated[
        str | None, typer.Option("--role", help="owner, admin, member or viewer; default: theirs")
    ] = None,
    kind: Annotated[
        str, typer.Option("--kind", help="api, or bot for the Slack-style API")
    ] = "api",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Create an API token (or a bot token) for a member; it is shown once."""
    cli = _cli()
    with cli._reported_errors():
        tid = cli._parse_tenant(tenant_id)
        if kind not in api_tokens.PREFIX:
            raise cli.CliError("--kind must be api or bot")

        async def work(store: Store) -> api_tokens.IssuedToken:
            now = datetime.now(UTC)
            async with store.tenant_session(tid, cli.CLI_ACTOR, via="cli") as ts:
                member_id = await api_tokens.member_for_email(ts, email.strip().lower())
                return await api_tokens.issue_token(
                    ts,
                    member_id=member_id,
                    name=name,
                    role=cast(Role | None, role),  # checked by issue_token
                    kind=kind,
                    now=now,
                )

        issued = cli._with_store(work)
    result = {
        "token": issued.token,
        "id": str(issued.id),
        "tenant_id": str(issued.tenant_id),
        "member_id": str(issued.member_id),
        "name": issued.name,
        "role": issued.role,
        "kind": issued.kind,
    }
    if as_json:
        print(json.dumps(result))
        return
    print(f"{issued.kind} token {issued.id} ({issued.role}) for {email}; shown once, keep it now:")
    print(issued.token)
