"""Tools about trust and the workspace itself: history, undo, GDPR, custom fields."""

import uuid
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import Field

from store.entities import BY_NAME, ENTITIES
from store.models.organize import CUSTOM_FIELD_ENTITIES, CUSTOM_FIELD_TYPES
from store.services import custom_fields, gdpr, history, records
from store.services.approvals import RecordRef
from tools.execution import Preview, ToolCall
from tools.registry import NexusTool, domain_tool

if TYPE_CHECKING:  # the choices come from the schema at runtime
    EntityName: TypeAlias = str
    CustomEntity: TypeAlias = str
    CustomType: TypeAlias = str
else:
    EntityName = Literal[tuple(e.name for e in ENTITIES)]
    CustomEntity = Literal[CUSTOM_FIELD_ENTITIES]
    CustomType = Literal[CUSTOM_FIELD_TYPES]
CONTACT = BY_NAME["contact"]


@domain_tool(entity=None, effect="read")
async def record_history(
    call: ToolCall,
    record_type: EntityName,
    record_id: uuid.UUID,
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
) -> Any:
    """Show who changed a record, when, through what (ui, api, agent, ...) and which fields
    went from what to what, newest first, from the audit trail.

    Args:
        record_type: The kind of record.
        record_id: The record (it may since have been deleted).
        limit: How many changes to return.
    """
    return await history.record_history(call.ts, BY_NAME[record_type], record_id, limit=limit)


async def _undo_preview(call: ToolCall, run_id: uuid.UUID, skip_conflicts: bool = False) -> Preview:
    plan = await history.plan_undo(call.ts, run_id)
    return Preview(plan.touched, {"action": "undo an agent turn", **plan.preview()})


@domain_tool(entity=None, effect="destructive", preview=_undo_preview)
async def undo_agent_turn(call: ToolCall, run_id: uuid.UUID, skip_conflicts: bool = False) -> Any:
    """Undo every change one Nexus turn made, newest first: re-create what it deleted, restore
    what it changed, delete what it created. A record someone changed after the turn is a
    conflict: by default nothing is undone then. Pauses for the user's approval with a preview.

    Args:
        run_id: The run id of the turn to undo.
        skip_conflicts: Undo the rest and leave records that changed since as they are.
    """
    return await history.undo_run(call.ts, run_id, skip_conflicts=skip_conflicts)


async def _erase_preview(
    call: ToolCall, contact_id: uuid.UUID, reason: str | None = None
) -> Preview:
    contact = await records.get_record(call.ts, CONTACT, contact_id)
    summary = {
        "action": "erase this contact for good (GDPR): the contact, its notes, activities, tags,"
        " list entries and approval requests are deleted and its key is destroyed; this cannot"
        " be undone",
        "contact": contact,
        "reason": reason,
    }
    return Preview([RecordRef(CONTACT.table_name, contact_id)], summary)


@domain_tool(entity="contact", effect="destructive", min_role="admin", preview=_erase_preview)
async def erase_contact(
    call: ToolCall,
    contact_id: uuid.UUID,
    reason: Annotated[str, Field(max_length=500)] | None = None,
) -> Any:
    """Erase a contact under GDPR (right to erasure): the contact and what only concerns them
    are deleted and their key destroyed, so even the audit trail's copies become unreadable.
    Cannot be undone. Pauses for the user's approval.

    Args:
        contact_id: The contact to erase.
        reason: Why (e.g. "erasure request of 3 May"); kept in the audit trail.
    """
    return await gdpr.erase_contact(call.ts, contact_id, reason)


@domain_tool(entity="contact", effect="write", min_role="admin")
async def export_contact(call: ToolCall, contact_id: uuid.UUID) -> Any:
    """Gather everything stored about a contact (GDPR right of access): the contact, their
    deals, tickets, activities, notes, tasks, tags, lists and history. The access is recorded
    as a note on the contact.

    Args:
        contact_id: The contact.
    """
    return await gdpr.export_contact(call.ts, contact_id)


@domain_tool(entity="custom_field", effect="write", min_role="admin")
async def define_custom_field(
    call: ToolCall,
    entity: CustomEntity,
    key: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")],
    label: Annotated[str, Field(min_length=1, max_length=120)],
    type: CustomType = "text",
    options: Annotated[list[str], Field(max_length=100)] | None = None,
) -> Any:
    """Add a custom field to companies, contacts, deals, products, tasks or tickets of this
    workspace; it appears in the workspace's tools from the next turn.

    Args:
        entity: The kind of record that gets the field.
        key: Machine name in snake_case (e.g. "renewal_month").
        label: Name shown to people (e.g. "Renewal month").
        type: The kind of value.
        options: The allowed values of a select field.
    """
    return await custom_fields.define_field(
        call.ts, entity=entity, key=key, label=label, type=type, options=options
    )


@domain_tool(entity="custom_field", effect="read")
async def list_custom_fields(call: ToolCall, entity: CustomEntity | None = None) -> Any:
    """List this workspace's custom fields (key, label, type, options).

    Args:
        entity: Only the fields of this kind of record.
    """
    found = await custom_fields.all_definitions(call.ts)
    return {k: v for k, v in found.items() if entity is None or k == entity}


TOOLS: list[NexusTool] = [
    record_history,
    undo_agent_turn,
    erase_contact,
    export_contact,
    define_custom_field,
    list_custom_fields,
]
