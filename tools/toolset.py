"""The toolset of one run: every tool the caller's role allows, with the workspace's schema.

`nexus_toolset()` is what the agent registers. On the first step of a run it reads the
workspace's custom field definitions and integrations (one tenant session), builds the
workspace's tools (cached per distinct schema: tools are stateless), and keeps those the role
allows. Custom fields therefore appear in that workspace's argument models only, and
`call_integration` exists only where an integration does.
"""

from functools import lru_cache
from typing import Any

from pydantic_ai import FunctionToolset, RunContext, Tool
from pydantic_ai.toolsets import DynamicToolset

from store.entities import ENTITIES
from store.services import custom_fields, integrations
from store.tenancy import Role, TenantSession
from tools import domain, egress, generated, governance
from tools.catalog import ToolSpec, WorkspaceSchema
from tools.deps import ToolDeps
from tools.registry import NexusTool

ALL_TOOLS: tuple[NexusTool, ...] = (
    *generated.TOOLS,
    *domain.TOOLS,
    *governance.TOOLS,
    *egress.TOOLS,
)
BY_NAME: dict[str, NexusTool] = {t.spec.name: t for t in ALL_TOOLS}
if len(BY_NAME) != len(ALL_TOOLS):
    raise RuntimeError("two tools share a name")

# The catalog as documented: no custom fields, every tool present.
FULL_SCHEMA = WorkspaceSchema(egress_entities=tuple(sorted(e.plural for e in ENTITIES)))


@lru_cache(maxsize=64)
def workspace_tools(schema: WorkspaceSchema) -> tuple[tuple[ToolSpec, Tool[ToolDeps]], ...]:
    """Every tool built for a workspace schema (tools absent from the workspace left out)."""
    built = ((t.spec, t.build(schema)) for t in ALL_TOOLS)
    return tuple((spec, tool) for spec, tool in built if tool is not None)


def catalog(schema: WorkspaceSchema = FULL_SCHEMA) -> list[dict[str, Any]]:
    """Every tool of a workspace schema as data: metadata, description, parameter schema."""
    return [
        {
            "name": spec.name,
            "effect": spec.effect,
            "min_role": spec.min_role,
            "entity": spec.entity,
            "deferred": spec.deferred,
            "description": tool.tool_def.description,
            "parameters": tool.tool_def.parameters_json_schema,
        }
        for spec, tool in workspace_tools(schema)
    ]


def build_toolset(schema: WorkspaceSchema, role: Role) -> FunctionToolset[ToolDeps]:
    """The tools a role may use in a workspace."""
    return FunctionToolset([tool for spec, tool in workspace_tools(schema) if spec.allows(role)])


async def workspace_schema(ts: TenantSession) -> WorkspaceSchema:
    """The workspace's custom fields and the entities its integrations may receive."""
    definitions = await custom_fields.all_definitions(ts)
    covered = await integrations.covered_entities(ts)
    return WorkspaceSchema.of(definitions, covered)


async def load_schema(deps: ToolDeps) -> WorkspaceSchema:
    """The schema of the run's workspace, read in its own tenant session (once per run)."""
    actor = deps.actor("toolset")
    async with deps.store.tenant_session(deps.tenant_id, actor, via="agent", role=deps.role) as ts:
        return await workspace_schema(ts)


async def _for_run(ctx: RunContext[ToolDeps]) -> FunctionToolset[ToolDeps]:
    if ctx.deps.workspace is None:
        ctx.deps.workspace = await load_schema(ctx.deps)
    return build_toolset(ctx.deps.workspace, ctx.deps.role)


def nexus_toolset() -> DynamicToolset[ToolDeps]:
    """The per-run toolset the Nexus agent registers."""
    return DynamicToolset(_for_run, per_run_step=False, id="nexus")
