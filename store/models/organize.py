"""Ways to organise records: tags, lists, and workspace-defined custom fields."""

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from store.models.base import Search, TenantRow, choice, public_text, reference, sealed, tenant_fk
from store.models.work import RECORD_TYPES

CUSTOM_FIELD_TYPES = ("text", "number", "date", "bool", "select", "email", "url", "phone")
CUSTOM_FIELD_ENTITIES = ("company", "contact", "deal", "product", "task", "ticket")


class Tag(TenantRow, table=True):
    """A label that can be put on any record."""

    __tablename__ = "tags"  # pyright: ignore[reportAssignmentType]

    name: bytes | None = sealed("Tag name", max_length=60, required=True, search=Search.EXACT)
    color: str | None = public_text(
        "Display colour, e.g. #3366ff", reason="a display setting", max_length=16
    )


class Tagging(TenantRow, table=True):
    """A tag on a record."""

    __tablename__ = "taggings"  # pyright: ignore[reportAssignmentType]

    tag_id: uuid.UUID = reference("tags", "The tag", required=True)
    record_type: str = choice("Kind of record tagged", options=RECORD_TYPES)
    record_id: uuid.UUID = Field(description="Id of the record tagged")

    __table_args__ = (
        tenant_fk("tag_id", "tags", ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "tag_id", "record_id"),
        sa.Index("ix_taggings_tenant_record", "tenant_id", "record_id"),
    )


class RecordList(TenantRow, table=True):
    """A named, hand-curated list of records of one kind (e.g. "Q3 webinar invitees")."""

    __tablename__ = "lists"  # pyright: ignore[reportAssignmentType]

    name: bytes | None = sealed("List name", max_length=120, required=True, search=Search.WORDS)
    description: bytes | None = sealed("What the list is for", max_length=2000)
    member_type: str = choice(
        "Kind of record the list holds", options=RECORD_TYPES, default="contact"
    )


class ListMembership(TenantRow, table=True):
    """A record in a list."""

    __tablename__ = "list_memberships"  # pyright: ignore[reportAssignmentType]

    list_id: uuid.UUID = reference("lists", "The list", required=True)
    record_id: uuid.UUID = Field(description="Id of the record in the list")

    __table_args__ = (
        tenant_fk("list_id", "lists", ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "list_id", "record_id"),
    )


class CustomFieldDefinition(TenantRow, table=True):
    """A workspace-defined field on an entity; it appears in that workspace's schemas and tools."""

    __tablename__ = "custom_field_definitions"  # pyright: ignore[reportAssignmentType]

    entity: str = choice("Entity the field belongs to", options=CUSTOM_FIELD_ENTITIES)
    key: str = public_text(
        "Machine name, snake_case", reason="schema metadata that names a field", max_length=64
    )
    label: str = public_text(
        "Human label", reason="schema metadata shown in forms and tool schemas", max_length=120
    )
    type: str = choice("Value type", options=CUSTOM_FIELD_TYPES, default="text")
    options: list[str] | None = Field(
        default=None,
        sa_type=JSONB,
        description="Allowed values for a select field",
        sa_column_kwargs={"info": {"public": "schema metadata: the options of a select field"}},
    )

    __table_args__ = (sa.UniqueConstraint("tenant_id", "entity", "key"),)

    def describe(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "type": self.type, "options": self.options}
