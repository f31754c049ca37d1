"""`flowgrid audit`: verify a workspace's audit chain, or export its trail decrypted."""

import json
import os
import sys
import uuid
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Annotated, TextIO

import typer

from store.audit.export import export_trail
from store.audit.verify import AUDIT_ACTOR, VerifyResult, verify_chain
from store.runtime import Store

audit_app = typer.Typer(
    help="The audit trail: verify its hash chain, export it.", no_args_is_help=True
)


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def _cli() -> ModuleType:
    # web.cli imports this module to register `audit`; importing it back at call time, once
    # both are loaded, reuses its settings, database and error handling without a cycle.
    from web import cli  # noqa: PLC0415

    return cli


@audit_app.command("verify")
def verify(
    tenant_id: Annotated[str, typer.Argument(help="Workspace id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Recompute the workspace's hash chain; exit 1 and name the first bad event if it broke."""
    cli = _cli()
    with cli._reported_errors():
        tid: uuid.UUID = cli._parse_tenant(tenant_id)

        async def work(store: Store) -> VerifyResult:
            return await verify_chain(store, tid, actor=AUDIT_ACTOR, via="cli")

        result: VerifyResult = cli._with_store(work)
    if as_json:
        print(json.dumps(result.as_json()))
    elif result.ok:
        print(f"audit chain of {tid} verifies: {result.events} events")
    else:
        print(f"flowgrid: audit chain of {tid} is broken: {result.reason}", file=sys.stderr)
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def export(
    tenant_id: Annotated[str, typer.Argument(help="Workspace id")],
    fmt: Annotated[
        ExportFormat, typer.Option("--format", help="jsonl (one event a line) or csv")
    ] = ExportFormat.jsonl,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write to this file (0600) instead of stdout")
    ] = None,
) -> None:
    """The workspace's full trail, decrypted, streamed; verifies the chain on the way and signs
    a checkpoint of its head when it verified."""
    cli = _cli()
    with cli._reported_errors():
        tid: uuid.UUID = cli._parse_tenant(tenant_id)
        if out is None:
            cli._with_store(lambda store: _write(store, tid, fmt, sys.stdout))
            return
        # Written beside the target and renamed at the end: a failed export leaves no
        # truncated file that looks complete. 0600: it holds decrypted personal data.
        partial = out.with_name(f".{out.name}.partial")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise cli.CliError(f"cannot write {out}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                cli._with_store(lambda store: _write(store, tid, fmt, handle))
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)


async def _write(store: Store, tenant_id: uuid.UUID, fmt: ExportFormat, handle: TextIO) -> None:
    chosen = "csv" if fmt is ExportFormat.csv else "jsonl"
    async for line in export_trail(store, tenant_id, fmt=chosen, via="cli", on_done=_warn):
        handle.write(line)


def _warn(result: VerifyResult, checkpoint: object) -> None:
    if not result.ok:
        print(
            f"flowgrid: warning: exported, but the audit chain does not verify ({result.reason}); "
            "no checkpoint was signed",
            file=sys.stderr,
        )
