"""`flowgrid tools list`: the Nexus tool catalog, as documented or as one workspace has it."""

import json
import uuid
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from store.runtime import Store
from tools.catalog import WorkspaceSchema
from tools.toolset import FULL_SCHEMA, catalog, workspace_schema

tools_app = typer.Typer(help="The tools Nexus works the CRM with.", no_args_is_help=True)
CLI_ACTOR = "system:cli"


def _cli() -> Any:
    # web.cli imports this module to register `tools`; importing it back at call time reuses
    # its settings, database and one-line error reporting without an import cycle.
    from web import cli  # noqa: PLC0415

    return cli


def _custom_keys(parameters: dict[str, Any]) -> list[str]:
    """Keys of the workspace custom fields a tool's parameters accept."""
    return sorted(
        key
        for name, definition in parameters.get("$defs", {}).items()
        if name.endswith("CustomFields")
        for key in definition.get("properties", {})
    )


@tools_app.command("list")
def list_tools(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Show this workspace's tools, with its custom fields"),
    ] = None,
) -> None:
    """Every tool: name, effect (read, write, destructive, egress), minimum role, entity."""
    cli = _cli()
    with cli._reported_errors():
        schema = FULL_SCHEMA
        if tenant is not None:
            tenant_id: uuid.UUID = cli._parse_tenant(tenant)

            async def load(store: Store) -> WorkspaceSchema:
                async with store.tenant_session(tenant_id, CLI_ACTOR, via="cli") as ts:
                    return await workspace_schema(ts)

            schema = cli._with_store(load)
        rows = [
            {
                "name": t["name"],
                "effect": t["effect"],
                "min_role": t["min_role"],
                "entity": t["entity"],
                "deferred": t["deferred"],
                **({"custom_fields": _custom_keys(t["parameters"])} if tenant else {}),
            }
            for t in catalog(schema)
        ]
    if as_json:
        document: dict[str, Any] = {"tools": rows, "count": len(rows)}
        if tenant is not None:
            document["tenant_id"] = tenant
            document["custom_fields"] = {e: schema.custom(e) for e, _ in schema.custom_fields}
        print(json.dumps(document))
        return
    table = Table("name", "effect", "min role", "entity", "loaded")
    for row in rows:
        extra = f" +{','.join(row['custom_fields'])}" if row.get("custom_fields") else ""
        table.add_row(
            row["name"] + extra,
            row["effect"],
            row["min_role"],
            row["entity"] or "",
            "on search" if row["deferred"] else "always",
        )
    Console().print(table)
    print(f"{len(rows)} tools")
