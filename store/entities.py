"""The CRM entities and the plaintext schemas derived from their tables.

A table stores sealed columns as ciphertext (`bytes`); people, routes and tools see plaintext.
Rather than writing a Create/Update/Public model by hand per entity (and keeping four copies of
every field in step), each is derived here from the table's own declaration: the description,
the length limit, whether it is required, its choices. The tools and REST routes are generated
from these models, so a field added to a table appears everywhere at once.
"""

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo
from sqlmodel import SQLModel

from store.models import (
    Activity,
    Company,
    Contact,
    Deal,
    LineItem,
    Note,
    Pipeline,
    Product,
    RecordList,
    Stage,
    Tag,
    Task,
    Ticket,
)
from store.models.base import SYSTEM_FIELDS, KeyedBy, Search, keyed_by


@dataclass(frozen=True)
class FieldSpec:
    """One user-visible field of an entity, as read from its column and model field."""

    name: str
    description: str
    python_type: Any
    required: bool
    sealed: bool
    json: bool
    search: Search | None
    max_length: int | None
    choices: tuple[str, ...] | None
    references: str | None
    constraints: dict[str, Any]
    default: Any
    nullable: bool

    @property
    def plain_column(self) -> bool:
        return not self.sealed


def _field_spec(table: sa.Table, name: str, info: FieldInfo) -> FieldSpec:
    column = table.columns[name]
    meta = column.info
    sealed = bool(meta.get("sealed"))
    choices = meta.get("choices")
    if sealed:
        python_type: Any = dict[str, Any] if meta["kind"] == "json" else str
        max_length = meta["max_length"]
        required = bool(meta["required"])
    else:
        python_type = Literal[choices] if choices else _strip_optional(info.annotation)
        max_length = next((m.max_length for m in info.metadata if hasattr(m, "max_length")), None)
        required = not column.nullable and info.default is None and info.default_factory is None
    constraints = {
        attr: getattr(m, attr)
        for m in info.metadata
        for attr in ("ge", "le", "gt", "lt")
        if getattr(m, attr, None) is not None
    }
    return FieldSpec(
        name=name,
        description=info.description or name.replace("_", " "),
        python_type=python_type,
        required=required,
        sealed=sealed,
        json=sealed and meta["kind"] == "json",
        search=meta.get("search"),
        max_length=max_length,
        choices=choices,
        references=meta.get("references"),
        constraints=constraints,
        default=None
        if sealed or not isinstance(info.default, str | int | bool | Decimal)
        else info.default,
        nullable=bool(column.nullable),
    )


def _strip_optional(annotation: Any) -> Any:
    args = getattr(annotation, "__args__", ())
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


class RecordPublic(BaseModel):
    """Fields every record carries."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


@dataclass(frozen=True)
class Entity:
    """A CRM entity: its names, its table and the plaintext schemas derived from it."""

    name: str
    plural: str
    table_model: type[SQLModel]

    @property
    def table(self) -> sa.Table:
        return self.table_model.__table__  # pyright: ignore[reportAttributeAccessIssue]

    @property
    def table_name(self) -> str:
        return self.table.name

    @property
    def title(self) -> str:
        return self.name.replace("_", " ")

    @property
    def summary(self) -> str:
        return (self.table_model.__doc__ or self.title).strip().splitlines()[0]

    @property
    def subject_keyed(self) -> bool:
        """Each record has its own subject key (so erasure can shred it) instead of the DEK."""
        return keyed_by(self.table) is KeyedBy.SELF

    @cached_property
    def fields(self) -> tuple[FieldSpec, ...]:
        return tuple(
            _field_spec(self.table, name, info)
            for name, info in self.table_model.model_fields.items()
            if name not in SYSTEM_FIELDS
        )

    @cached_property
    def field_map(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in self.fields}

    @cached_property
    def sealed_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.sealed)

    @cached_property
    def searchable_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.sealed_fields if f.search is not None)

    @cached_property
    def create_model(self) -> type[BaseModel]:
        return self._model("Create", lambda f: f.required)

    @cached_property
    def update_model(self) -> type[BaseModel]:
        return self._model("Update", lambda f: False)

    @cached_property
    def public_model(self) -> type[BaseModel]:
        fields: dict[str, Any] = {
            f.name: (f.python_type | None, Field(default=None, description=f.description))
            for f in self.fields
        }
        return create_model(  # pyright: ignore[reportCallIssue, reportUnknownVariableType]
            f"{_camel(self.name)}Public", __base__=RecordPublic, __doc__=self.summary, **fields
        )

    def _model(self, suffix: str, is_required: Any) -> type[BaseModel]:
        fields: dict[str, Any] = {}
        for spec in self.fields:
            limits: dict[str, Any] = dict(spec.constraints)
            if spec.max_length and spec.python_type is str:
                limits["max_length"] = spec.max_length
            if is_required(spec):
                fields[spec.name] = (
                    spec.python_type,
                    Field(description=spec.description, **limits),
                )
            elif suffix == "Create" and spec.default is not None:
                fields[spec.name] = (
                    spec.python_type,
                    Field(default=spec.default, description=spec.description, **limits),
                )
            else:
                fields[spec.name] = (
                    spec.python_type | None,
                    Field(default=None, description=spec.description, **limits),
                )
        return create_model(  # pyright: ignore[reportCallIssue, reportUnknownVariableType]
            f"{_camel(self.name)}{suffix}",
            __config__=ConfigDict(extra="forbid", str_strip_whitespace=True),
            __doc__=f"{suffix} a {self.title}: {self.summary}",
            **fields,
        )


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


ENTITIES: tuple[Entity, ...] = (
    Entity("company", "companies", Company),
    Entity("contact", "contacts", Contact),
    Entity("pipeline", "pipelines", Pipeline),
    Entity("stage", "stages", Stage),
    Entity("deal", "deals", Deal),
    Entity("activity", "activities", Activity),
    Entity("task", "tasks", Task),
    Entity("note", "notes", Note),
    Entity("tag", "tags", Tag),
    Entity("list", "lists", RecordList),
    Entity("product", "products", Product),
    Entity("line_item", "line_items", LineItem),
    Entity("ticket", "tickets", Ticket),
)

BY_NAME = {e.name: e for e in ENTITIES}
BY_PLURAL = {e.plural: e for e in ENTITIES}
BY_TABLE = {e.table_name: e for e in ENTITIES}

# Python types a plaintext column may have; anything else is a schema mistake.
PLAIN_TYPES = (uuid.UUID, int, bool, Decimal, dt.date, dt.datetime, str)
