"""Hand-written tools for what a sales team does every day, each on one domain service.

A tool here parses (its typed parameters), calls one service, and shapes the result; the rules
live in `store/services`. The docstrings are what the model reads.
"""

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import Field

from store.entities import BY_NAME
from store.models.work import ACTIVITY_KINDS, RECORD_TYPES
from store.services import (
    activities,
    deals,
    lists,
    merge,
    owners,
    pipeline,
    search,
    tags,
    tasks,
)
from store.services.approvals import RecordRef
from tools.execution import Preview, ToolCall
from tools.registry import NexusTool, domain_tool

if TYPE_CHECKING:  # the choices come from the schema at runtime
    RecordType: TypeAlias = str
    ActivityKind: TypeAlias = str
else:
    RecordType = Literal[RECORD_TYPES]
    ActivityKind = Literal[ACTIVITY_KINDS]
Ids = Annotated[list[uuid.UUID], Field(min_length=1, max_length=lists.MAX_BATCH)]
Limit = Annotated[int, Field(ge=1, le=100)]
TagName = Annotated[str, Field(min_length=1, max_length=60)]

# --- deals and the pipeline ---------------------------------------------------------------


@domain_tool(entity="deal", effect="write")
async def move_deal_stage(
    call: ToolCall, deal_id: uuid.UUID, stage: str, expected_version: int | None = None
) -> Any:
    """Move a deal to another stage of its pipeline; a won or lost stage also closes the deal.

    Args:
        deal_id: The deal to move.
        stage: The target stage, by id or by name (e.g. "Negotiation").
        expected_version: The deal's `version` as you read it; refused if it changed since.
    """
    return await deals.move_to_stage(call.ts, deal_id, stage, expected_version=expected_version)


@domain_tool(entity="deal", effect="write")
async def mark_deal_won(
    call: ToolCall, deal_id: uuid.UUID, close_date: dt.date | None = None
) -> Any:
    """Mark a deal as won and move it to its pipeline's won stage.

    Args:
        deal_id: The deal that was won.
        close_date: When it closed; today if not given.
    """
    return await deals.close_deal(call.ts, deal_id, "won", close_date=close_date)


@domain_tool(entity="deal", effect="write")
async def mark_deal_lost(
    call: ToolCall,
    deal_id: uuid.UUID,
    reason: Annotated[str, Field(min_length=1, max_length=1000)],
    close_date: dt.date | None = None,
) -> Any:
    """Mark a deal as lost, with the reason, and move it to its pipeline's lost stage.

    Args:
        deal_id: The deal that was lost.
        reason: Why it was lost (e.g. "went with a competitor on price").
        close_date: When it was lost; today if not given.
    """
    return await deals.close_deal(call.ts, deal_id, "lost", reason=reason, close_date=close_date)


@domain_tool(entity="pipeline", effect="read")
async def list_pipelines(call: ToolCall) -> Any:
    """List the sales pipelines with their stages in order (names, win probability, outcome)."""
    return await pipeline.list_pipelines(call.ts)


@domain_tool(entity="deal", effect="read")
async def pipeline_summary(call: ToolCall, pipeline_id: uuid.UUID | None = None) -> Any:
    """Count deals and add up their amounts per stage of a pipeline, by currency.

    Args:
        pipeline_id: The pipeline; the default pipeline if not given.
    """
    return await pipeline.summary(call.ts, pipeline_id)


@domain_tool(entity="deal", effect="read")
async def forecast(
    call: ToolCall,
    start: dt.date | None = None,
    end: dt.date | None = None,
    pipeline_id: uuid.UUID | None = None,
) -> Any:
    """Forecast revenue for a period: won so far plus open deals weighted by stage probability.

    Args:
        start: First day of the period; the start of the current quarter if not given.
        end: Last day of the period; the end of the current quarter if not given.
        pipeline_id: Only this pipeline; all pipelines if not given.
    """
    return await pipeline.forecast(
        call.ts, today=call.now.date(), start=start, end=end, pipeline_id=pipeline_id
    )


@domain_tool(entity="deal", effect="read")
async def stale_deals(
    call: ToolCall, days: Annotated[int, Field(ge=1, le=3650)] = 30, limit: Limit = 20
) -> Any:
    """Find open deals nobody has touched for a while, the longest untouched first.

    Args:
        days: How many days without any change makes a deal stale.
        limit: How many deals to return.
    """
    return await pipeline.stale_deals(call.ts, days=days, now=call.now, limit=limit)


# --- tags and lists -----------------------------------------------------------------------


@domain_tool(entity="tag", effect="write")
async def tag_record(
    call: ToolCall, record_type: RecordType, record_id: uuid.UUID, tag: TagName
) -> Any:
    """Put a tag on a record; the tag is created the first time it is used.

    Args:
        record_type: The kind of record.
        record_id: The record to tag.
        tag: The tag's name (e.g. "vip").
    """
    return await tags.tag_record(call.ts, record_type, record_id, tag)


@domain_tool(entity="tag", effect="write")
async def untag_record(
    call: ToolCall, record_type: RecordType, record_id: uuid.UUID, tag: TagName
) -> Any:
    """Take a tag off a record (the tag itself stays).

    Args:
        record_type: The kind of record.
        record_id: The record to untag.
        tag: The tag's name.
    """
    return await tags.untag_record(call.ts, record_type, record_id, tag)


@domain_tool(entity="list", effect="write")
async def add_to_list(call: ToolCall, list_id: uuid.UUID, record_ids: Ids) -> Any:
    """Add records to a list (they must be of the list's kind); ones already in it are skipped.

    Args:
        list_id: The list.
        record_ids: The records to add.
    """
    return await lists.add_to_list(call.ts, list_id, record_ids)


@domain_tool(entity="list", effect="write")
async def remove_from_list(call: ToolCall, list_id: uuid.UUID, record_ids: Ids) -> Any:
    """Take records out of a list; the records themselves stay.

    Args:
        list_id: The list.
        record_ids: The records to take out.
    """
    return await lists.remove_from_list(call.ts, list_id, record_ids)


@domain_tool(entity="list", effect="read")
async def get_list_entries(
    call: ToolCall, list_id: uuid.UUID, limit: Limit = 20, offset: Annotated[int, Field(ge=0)] = 0
) -> Any:
    """Show the records in a list, in the order they were added.

    Args:
        list_id: The list.
        limit: How many records to return.
        offset: How many to skip (pass `next_offset` from the previous answer).
    """
    return await lists.list_entries(call.ts, list_id, limit=limit, offset=offset)


# --- activities and tasks -----------------------------------------------------------------


@domain_tool(entity="activity", effect="write")
async def log_activity(
    call: ToolCall,
    record_type: RecordType,
    record_id: uuid.UUID,
    kind: ActivityKind = "note",
    subject: Annotated[str, Field(max_length=300)] | None = None,
    body: Annotated[str, Field(max_length=20000)] | None = None,
    occurred_at: dt.datetime | None = None,
) -> Any:
    """Log a call, meeting, email or note against a record, as the current user.

    Args:
        record_type: The kind of record it is about.
        record_id: The record it is about.
        kind: What happened.
        subject: A short subject line.
        body: What was said or done.
        occurred_at: When it happened; now if not given.
    """
    return await activities.log_activity(
        call.ts,
        record_type=record_type,
        record_id=record_id,
        kind=kind,
        subject=subject,
        body=body,
        occurred_at=occurred_at,
        owner_id=call.deps.member_id,
        now=call.now,
    )


@domain_tool(entity="activity", effect="read")
async def record_timeline(
    call: ToolCall, record_type: RecordType, record_id: uuid.UUID, limit: Limit = 20
) -> Any:
    """Show what happened with a record: its activities, notes and tasks, newest first.

    Args:
        record_type: The kind of record.
        record_id: The record.
        limit: How many entries to return.
    """
    return await activities.timeline(call.ts, record_type, record_id, limit=limit)


@domain_tool(entity="task", effect="write")
async def complete_task(
    call: ToolCall, task_id: uuid.UUID, expected_version: int | None = None
) -> Any:
    """Mark a task as done now.

    Args:
        task_id: The task.
        expected_version: The task's `version` as you read it; refused if it changed since.
    """
    return await tasks.complete_task(
        call.ts, task_id, now=call.now, expected_version=expected_version
    )


@domain_tool(entity="task", effect="read")
async def my_tasks(
    call: ToolCall, due: Literal["overdue", "today", "week", "all"] = "all", limit: Limit = 20
) -> Any:
    """List the current user's open tasks, soonest due first.

    Args:
        due: Only tasks overdue, due by the end of today, within seven days, or all of them.
        limit: How many tasks to return.
    """
    if call.deps.member_id is None:
        return []
    return await tasks.open_tasks_for(
        call.ts, call.deps.member_id, due=due, now=call.now, limit=limit
    )


# --- the team -----------------------------------------------------------------------------


@domain_tool(entity=None, effect="read")
async def list_team_members(call: ToolCall) -> Any:
    """List the people in this workspace with their ids and roles (to assign owners)."""
    return await owners.team(call.ts)


@domain_tool(entity=None, effect="write")
async def assign_owner(
    call: ToolCall, record_type: RecordType, record_id: uuid.UUID, owner_id: uuid.UUID
) -> Any:
    """Make a team member the owner of a record (the assignee, for tasks and tickets).

    Args:
        record_type: The kind of record.
        record_id: The record.
        owner_id: The team member's id (from list_team_members).
    """
    return await owners.assign_owner(call.ts, record_type, record_id, owner_id)


@domain_tool(entity=None, effect="read")
async def search_records(
    call: ToolCall,
    q: Annotated[str, Field(min_length=1, max_length=200)],
    per_kind: Annotated[int, Field(ge=1, le=20)] = 5,
) -> Any:
    """Search every kind of record at once (companies, contacts, deals, products, tasks,
    tickets) for words or word beginnings; returns ids, kinds and labels.

    Args:
        q: The words to look for (e.g. "acme renewal").
        per_kind: At most this many hits of each kind.
    """
    return await search.search_everything(call.ts, q, per_kind=per_kind)


# --- merges (destructive) -----------------------------------------------------------------


def _merge_preview(kind: str) -> Any:
    entity = BY_NAME[kind]

    async def preview(call: ToolCall, keep_id: uuid.UUID, duplicate_id: uuid.UUID) -> Preview:
        plan = await merge.plan_merge(call.ts, entity, keep_id, duplicate_id)
        touched = [
            RecordRef(entity.table_name, keep_id),
            RecordRef(entity.table_name, duplicate_id),
        ]
        return Preview(touched, {"action": f"merge two {entity.plural}", **plan.preview()})

    return preview


@domain_tool(entity="contact", effect="destructive", preview=_merge_preview("contact"))
async def merge_contacts(call: ToolCall, keep_id: uuid.UUID, duplicate_id: uuid.UUID) -> Any:
    """Merge a duplicate contact into another: the kept one takes the duplicate's missing
    fields, deals, tickets, activities, notes, tasks, tags and lists; the duplicate is deleted.
    Pauses for the user's approval with a preview.

    Args:
        keep_id: The contact that stays.
        duplicate_id: The contact merged into it and then deleted.
    """
    return await merge.merge_records(call.ts, BY_NAME["contact"], keep_id, duplicate_id)


@domain_tool(entity="company", effect="destructive", preview=_merge_preview("company"))
async def merge_companies(call: ToolCall, keep_id: uuid.UUID, duplicate_id: uuid.UUID) -> Any:
    """Merge a duplicate company into another: the kept one takes the duplicate's missing
    fields, contacts, deals, tickets, activities, notes, tasks, tags and lists; the duplicate is
    deleted. Pauses for the user's approval with a preview.

    Args:
        keep_id: The company that stays.
        duplicate_id: The company merged into it and then deleted.
    """
    return await merge.merge_records(call.ts, BY_NAME["company"], keep_id, duplicate_id)


TOOLS: list[NexusTool] = [
    move_deal_stage,
    mark_deal_won,
    mark_deal_lost,
    list_pipelines,
    pipeline_summary,
    forecast,
    stale_deals,
    tag_record,
    untag_record,
    add_to_list,
    remove_from_list,
    get_list_entries,
    log_activity,
    record_timeline,
    complete_task,
    my_tasks,
    list_team_members,
    assign_owner,
    search_records,
    merge_contacts,
    merge_companies,
]
