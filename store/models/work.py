"""Day-to-day work on records: activities, tasks, notes and support tickets.

`record_type` + `record_id` link an item to any record. They carry no foreign key (the target
table varies), so the services check the target exists in the same workspace before writing.
Notes and activities about a contact are sealed under that contact's subject key (they are
about the person, and go with the person on erasure); tasks stay the team's, under the
workspace key.
"""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from store.models.base import (
    CustomizableRow,
    KeyedBy,
    Search,
    TenantRow,
    choice,
    reference,
    sealed,
    sealed_under,
    tenant_fk,
)

RECORD_TYPES = ("company", "contact", "deal", "product", "task", "ticket")
ACTIVITY_KINDS = ("call", "meeting", "email", "note")
TASK_STATUSES = ("open", "done")
PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_STATUSES = ("open", "pending", "solved", "closed")


def _when(description: str) -> datetime | None:
    return Field(default=None, sa_type=sa.DateTime(timezone=True), description=description)


class _Linked(TenantRow):
    """A row about some other record of the workspace."""

    record_type: str | None = choice("Kind of record this is about", options=RECORD_TYPES)
    record_id: uuid.UUID | None = Field(default=None, description="Id of the record this is about")


class Activity(_Linked, table=True):
    """Something that happened: a call, meeting, email or note, logged against a record."""

    __tablename__ = "activities"  # pyright: ignore[reportAssignmentType]

    kind: str = choice("Type of activity", options=ACTIVITY_KINDS, default="note")
    subject: bytes | None = sealed("Short subject line", max_length=300, search=Search.WORDS)
    body: bytes | None = sealed("What was said or done", max_length=20000)
    occurred_at: datetime | None = _when("When it happened")
    owner_id: uuid.UUID | None = reference("members", "Team member who logged it")

    __table_args__ = (
        tenant_fk("owner_id", "members"),
        sa.Index("ix_activities_tenant_record", "tenant_id", "record_id"),
        sealed_under(KeyedBy.LINKED_CONTACT),
    )


class Task(_Linked, CustomizableRow, table=True):
    """A to-do for a team member, optionally about a record."""

    __tablename__ = "tasks"  # pyright: ignore[reportAssignmentType]

    title: bytes | None = sealed("What to do", max_length=300, required=True, search=Search.WORDS)
    description: bytes | None = sealed("Details", max_length=10000)
    status: str = choice("Open or done", options=TASK_STATUSES, default="open")
    priority: str = choice("Priority", options=PRIORITIES, default="normal")
    due_at: datetime | None = _when("When it is due")
    completed_at: datetime | None = _when("When it was completed")
    assignee_id: uuid.UUID | None = reference("members", "Team member who should do it")

    __table_args__ = (tenant_fk("assignee_id", "members"),)


class Note(_Linked, table=True):
    """A free-form note pinned to a record."""

    __tablename__ = "notes"  # pyright: ignore[reportAssignmentType]

    body: bytes | None = sealed("The note", max_length=20000, required=True)
    author_id: uuid.UUID | None = reference("members", "Who wrote it")

    __table_args__ = (
        tenant_fk("author_id", "members"),
        sa.Index("ix_notes_tenant_record", "tenant_id", "record_id"),
        sealed_under(KeyedBy.LINKED_CONTACT),
    )


class Ticket(CustomizableRow, table=True):
    """A customer support request."""

    __tablename__ = "tickets"  # pyright: ignore[reportAssignmentType]

    subject: bytes | None = sealed("Subject", max_length=300, required=True, search=Search.WORDS)
    description: bytes | None = sealed("What the customer reported", max_length=20000)
    status: str = choice("Ticket state", options=TICKET_STATUSES, default="open")
    priority: str = choice("Priority", options=PRIORITIES, default="normal")
    contact_id: uuid.UUID | None = reference("contacts", "Customer who reported it")
    company_id: uuid.UUID | None = reference("companies", "Customer company")
    assignee_id: uuid.UUID | None = reference("members", "Team member handling it")

    __table_args__ = (
        tenant_fk("contact_id", "contacts"),
        tenant_fk("company_id", "companies"),
        tenant_fk("assignee_id", "members"),
    )
