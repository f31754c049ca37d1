"""To-dos: complete one, list what is on a team member's plate."""

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel

from store.entities import BY_NAME
from store.services import records
from store.tenancy import TenantSession

TASK = BY_NAME["task"]
Due = Literal["overdue", "today", "week", "all"]


async def complete_task(
    ts: TenantSession,
    task_id: uuid.UUID,
    *,
    now: dt.datetime,
    expected_version: int | None = None,
) -> BaseModel:
    """Mark a task done, stamped now. Completing a done task changes nothing."""
    task: Any = await records.get_record(ts, TASK, task_id)
    if task.status == "done":
        return task
    return await records.update_record(
        ts,
        TASK,
        task_id,
        {"status": "done", "completed_at": now},
        expected_version=expected_version,
    )


async def open_tasks_for(
    ts: TenantSession, assignee_id: uuid.UUID, *, due: Due, now: dt.datetime, limit: int = 20
) -> list[Any]:
    """Open tasks assigned to someone, soonest due first (`due` narrows by due date)."""
    table = TASK.table
    conditions: list[Any] = [table.c.assignee_id == assignee_id, table.c.status == "open"]
    start_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if due == "overdue":
        conditions.append(table.c.due_at < now)
    elif due == "today":
        conditions.append(table.c.due_at < start_of_day + dt.timedelta(days=1))
    elif due == "week":
        conditions.append(table.c.due_at < start_of_day + dt.timedelta(days=7))
    return await records.find_records(
        ts,
        TASK,
        *conditions,
        order_by=(table.c.due_at.asc().nulls_last(), table.c.created_at),
        limit=limit,
    )
