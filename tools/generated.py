"""The generated tools: for every entity `create_<e>`, `get_<e>`, `search_<plural>`,
`update_<e>`, `delete_<e>` (and `bulk_update_<plural>` for the entities in
`catalog.BULK_ENTITIES`), all on the generic record services.

One implementation per verb serves every entity; the entity only supplies names, models and
descriptions. Deletes and bulk updates pause for approval with a preview of what they change.
"""

import uuid
from typing import Any

from pydantic import BaseModel
from pydantic_ai import Tool

from store.entities import ENTITIES, Entity
from store.services import records
from store.services.approvals import RecordRef
from tools import arguments
from tools.catalog import BULK_ENTITIES, Effect, ToolSpec, WorkspaceSchema, default_role
from tools.deps import ToolDeps
from tools.execution import Preview, ToolCall
from tools.registry import NexusTool, model_tool


def _about(entity: Entity) -> str:
    """The first sentence of the entity's description."""
    return entity.summary.split(". ")[0].rstrip(".") + "."


def _spec(entity: Entity, name: str, effect: Effect, description: str) -> ToolSpec:
    return ToolSpec(name, entity.name, effect, default_role(effect), description)


def create_tool(entity: Entity) -> NexusTool:
    spec = _spec(
        entity, f"create_{entity.name}", "write", f"Create a {entity.title}: {_about(entity)}"
    )

    async def body(call: ToolCall, args: BaseModel) -> Any:
        return await records.create_record(call.ts, entity, arguments.record_values(args))

    def build(schema: WorkspaceSchema) -> Tool[ToolDeps]:
        model = arguments.create_args(entity, schema.custom(entity.name))
        return model_tool(spec, model, body)

    return NexusTool(spec, build)


def get_tool(entity: Entity) -> NexusTool:
    spec = _spec(
        entity, f"get_{entity.name}", "read", f"Get one {entity.title} by id, with all its fields."
    )
    model = arguments.record_id_args(entity, "get")

    async def body(call: ToolCall, args: Any) -> Any:
        return await records.get_record(call.ts, entity, args.id)

    return NexusTool(spec, lambda _schema: model_tool(spec, model, body))


def search_tool(entity: Entity) -> NexusTool:
    words = ", ".join(f.name for f in entity.searchable_fields)
    spec = _spec(
        entity,
        f"search_{entity.plural}",
        "read",
        f"Find {entity.plural}"
        + (f": `q` matches words and word beginnings in {words}" if words else "")
        + "; `filters` match fields exactly or within a range. Newest first unless `sort` says"
        " otherwise; pass `next_cursor` back as `cursor` for the next page.",
    )
    model = arguments.search_args(entity)

    async def body(call: ToolCall, args: Any) -> Any:
        page = await records.list_records(
            call.ts,
            entity,
            filters=arguments.search_filters(entity, getattr(args, "filters", None)),
            q=getattr(args, "q", None),
            sort=args.sort,
            limit=args.limit,
            cursor=args.cursor,
        )
        return {"items": page.items, "next_cursor": page.next_cursor}

    return NexusTool(spec, lambda _schema: model_tool(spec, model, body))


def update_tool(entity: Entity) -> NexusTool:
    spec = _spec(
        entity,
        f"update_{entity.name}",
        "write",
        f"Change fields of a {entity.title}. Only the fields given in `changes` are written; pass"
        " `expected_version` (the `version` you read) to refuse if someone changed it since.",
    )

    async def body(call: ToolCall, args: Any) -> Any:
        return await records.update_record(
            call.ts,
            entity,
            args.id,
            arguments.record_values(args.changes),
            expected_version=args.expected_version,
        )

    def build(schema: WorkspaceSchema) -> Tool[ToolDeps]:
        model = arguments.update_args(entity, schema.custom(entity.name))
        return model_tool(spec, model, body)

    return NexusTool(spec, build)


def delete_tool(entity: Entity) -> NexusTool:
    spec = _spec(
        entity,
        f"delete_{entity.name}",
        "destructive",
        f"Delete a {entity.title} for good (the audit trail keeps its last values). Pauses for"
        " the user's approval, showing the record.",
    )
    model = arguments.record_id_args(entity, "delete")

    async def preview(call: ToolCall, args: Any) -> Preview:
        record = await records.get_record(call.ts, entity, args.id)
        return Preview(
            [RecordRef(entity.table_name, args.id)],
            {"action": f"delete this {entity.title}", "record": record},
        )

    async def body(call: ToolCall, args: Any) -> Any:
        return {"deleted": await records.delete_record(call.ts, entity, args.id)}

    return NexusTool(spec, lambda _schema: model_tool(spec, model, body, preview))


def bulk_update_tool(entity: Entity) -> NexusTool:
    spec = _spec(
        entity,
        f"bulk_update_{entity.plural}",
        "destructive",
        f"Set the same fields on up to {arguments.MAX_BULK} {entity.plural} at once. Pauses for"
        " the user's approval with a dry-run preview of every change.",
    )

    async def preview(call: ToolCall, args: Any) -> Preview:
        changes = arguments.record_values(args.changes)
        ids = list(dict.fromkeys(args.ids))
        rows = []
        for record_id in ids:
            current = (await records.get_record(call.ts, entity, record_id)).model_dump()
            diff = {k: v for k, v in changes.items() if current.get(k) != v}
            rows.append({"id": record_id, "from": {k: current.get(k) for k in diff}, "to": diff})
        summary = {
            "action": f"update {len(ids)} {entity.plural}",
            "would_change": sum(1 for r in rows if r["to"]),
            "changes": rows,
        }
        return Preview([RecordRef(entity.table_name, i) for i in ids], summary)

    async def body(call: ToolCall, args: Any) -> Any:
        changes = arguments.record_values(args.changes)
        updated: list[uuid.UUID] = []
        for record_id in dict.fromkeys(args.ids):
            await records.update_record(call.ts, entity, record_id, changes)
            updated.append(record_id)
        return {"updated": updated, "changes": changes}

    def build(schema: WorkspaceSchema) -> Tool[ToolDeps]:
        model = arguments.bulk_update_args(entity, schema.custom(entity.name))
        return model_tool(spec, model, body, preview)

    return NexusTool(spec, build)


def entity_tools(entity: Entity) -> list[NexusTool]:
    tools = [
        create_tool(entity),
        get_tool(entity),
        search_tool(entity),
        update_tool(entity),
        delete_tool(entity),
    ]
    if entity.name in BULK_ENTITIES:
        tools.append(bulk_update_tool(entity))
    return tools


TOOLS: list[NexusTool] = [tool for entity in ENTITIES for tool in entity_tools(entity)]
