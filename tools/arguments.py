"""Argument models of the generated tools, derived from `store.entities` and a workspace's schema.

Nothing here is written per entity: each model comes from the entity's own create/update model
(names, types, descriptions, limits, choices) and from the workspace's custom field definitions,
which replace the free-form `custom` object with typed, validated fields (select fields become a
choice of their options). Every model forbids extra properties, so a model cannot slip in a field
(a workspace, an actor) that the schema does not offer.
"""

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from store.entities import Entity, FieldSpec
from store.services import records
from store.services.custom_fields import MAX_TEXT, PATTERNS

MAX_BULK = 50
FORBID = ConfigDict(extra="forbid", str_strip_whitespace=True)
RANGED = (int, Decimal, dt.date, dt.datetime)
UNSORTED = ("id", "version")  # sortable, but no one asks for it

CustomDefinitions = Sequence[Mapping[str, Any]]


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


# --- custom fields ------------------------------------------------------------------------


def custom_model(entity: Entity, definitions: CustomDefinitions) -> type[BaseModel] | None:
    """Typed model of the workspace's custom fields of an entity (None when it has none)."""
    fields: dict[str, Any] = {}
    for definition in definitions:
        key = definition["key"]
        if not key.isidentifier():
            continue
        annotation, limits = _custom_type(definition)
        description = f"{definition['label']} ({definition['type']})"
        fields[key] = (annotation | None, Field(default=None, description=description, **limits))
    if not fields:
        return None
    return create_model(  # pyright: ignore[reportCallIssue, reportUnknownVariableType]
        f"{camel(entity.name)}CustomFields",
        __config__=FORBID,
        __doc__=f"This workspace's custom fields of a {entity.title}.",
        **fields,
    )


def _custom_type(definition: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    kind = definition["type"]
    if kind == "select":
        return Literal[tuple(definition["options"] or ())], {}  # pyright: ignore[reportInvalidTypeArguments]
    simple: dict[str, Any] = {"number": int | float, "date": dt.date, "bool": bool}
    if kind in simple:
        return simple[kind], {}
    limits: dict[str, Any] = {"max_length": MAX_TEXT}
    if kind in PATTERNS:
        limits["pattern"] = PATTERNS[kind]
    return str, limits


def _with_custom(
    base: type[BaseModel],
    name: str,
    entity: Entity,
    definitions: CustomDefinitions,
    doc: str | None = None,
) -> type[BaseModel]:
    """`base`'s fields, with `custom` typed for this workspace (or left out when it has none)."""
    fields: dict[str, Any] = {
        key: (info.annotation, info) for key, info in base.model_fields.items() if key != "custom"
    }
    custom = custom_model(entity, definitions) if "custom" in base.model_fields else None
    if custom is not None:
        fields["custom"] = (
            custom | None,
            Field(default=None, description="Custom fields of this workspace"),
        )
    return create_model(  # pyright: ignore[reportCallIssue, reportUnknownVariableType]
        name, __config__=FORBID, __doc__=doc, **fields
    )


# --- the argument models --------------------------------------------------------------------


def record_id_args(entity: Entity, verb: str) -> type[BaseModel]:
    return create_model(  # pyright: ignore[reportCallIssue, reportUnknownVariableType]
        f"{camel(entity.name)}{camel(verb)}Args",
        __config__=FORBID,
        id=(uuid.UUID, Field(description=f"Id of the {entity.title} to {verb}")),
    )


def create_args(entity: Entity, definitions: CustomDefinitions) -> type[BaseModel]:
    return _with_custom(entity.create_model, f"{camel(entity.name)}Create", entity, definitions)


def changes_model(entity: Entity, definitions: CustomDefinitions) -> type[BaseModel]:
    return _with_custom(entity.update_model, f"{camel(entity.name)}Changes", entity, definitions)


def update_args(entity: Entity, definitions: CustomDefinitions) -> type[BaseModel]:
    return create_model(  # pyright: ignore[reportCallIssue, reportUnknownVariableType]
        f"{camel(entity.name)}UpdateArgs",
        __config__=FORBID,
        id=(uuid.UUID, Field(description=f"Id of the {entity.title} to change")),
        expected_version=(
            int | None,
            Field(
                default=None,
                ge=1,
                description="The `version` you read; the change is refused if it moved on since",
            ),
        ),
        changes=(
            changes_model(entity, definitions),
            Field(description="Only the fields to change; null clears an optional field"),
        ),
    )


def bulk_update_args(entity: Entity, definitions: CustomDefinitions) -> type[BaseModel]:
    return create_model(  # pyright: ignore[reportCallIssue, reportUnknownVariableType]
        f"{camel(entity.name)}BulkUpdateArgs",
        __config__=FORBID,
        ids=(
            list[uuid.UUID],
            Field(min_length=1, max_length=MAX_BULK, description=f"Ids of the {entity.plural}"),
        ),
        changes=(
            changes_model(entity, definitions),
            Field(description=f"The fields to set on every one of the {entity.plural}"),
        ),
    )


# --- search ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterField:
    """One search filter: `key` in the schema, matching `field` exactly or as a bound."""

    key: str
    field: str
    bound: Literal["eq", "min", "max"]
    annotation: Any
    description: str


def filter_fields(entity: Entity) -> list[FilterField]:
    """The filters an entity's search offers, one rule per kind of field."""
    found: list[FilterField] = []
    for spec in entity.fields:
        found.extend(_filters_for(spec))
    return found


def _filters_for(spec: FieldSpec) -> list[FilterField]:
    if spec.json:
        return []
    if spec.sealed:
        if spec.search is not None and spec.search.value == "exact":
            return [FilterField(spec.name, spec.name, "eq", str, f"{spec.description}, exactly")]
        return []
    if spec.python_type in RANGED:
        return [
            FilterField(
                f"{spec.name}_min",
                spec.name,
                "min",
                spec.python_type,
                f"{spec.description}, at least",
            ),
            FilterField(
                f"{spec.name}_max",
                spec.name,
                "max",
                spec.python_type,
                f"{spec.description}, at most",
            ),
        ]
    if spec.python_type in (uuid.UUID, bool, str) or spec.choices:
        return [FilterField(spec.name, spec.name, "eq", spec.python_type, spec.description)]
    return []


def filters_model(entity: Entity) -> type[BaseModel] | None:
    fields: dict[str, Any] = {
        f.key: (f.annotation | None, Field(default=None, description=f.description))
        for f in filter_fields(entity)
    }
    if not fields:
        return None
    return create_model(  # pyright: ignore[reportCallIssue, reportUnknownVariableType]
        f"{camel(entity.name)}Filters", __config__=FORBID, **fields
    )


def search_args(entity: Entity) -> type[BaseModel]:
    sortable = [c for c in records.sortable_columns(entity) if c not in UNSORTED]
    orders = tuple(o for name in sortable for o in (name, f"-{name}"))
    fields: dict[str, Any] = {}
    words = [f.name for f in entity.searchable_fields]
    if words:
        fields["q"] = (
            str | None,
            Field(
                default=None,
                max_length=200,
                description=f"Words to find in {', '.join(words)} (word beginnings match)",
            ),
        )
    filters = filters_model(entity)
    if filters is not None:
        fields["filters"] = (filters | None, Field(default=None, description="Field filters"))
    fields["sort"] = (
        Literal[orders],  # pyright: ignore[reportInvalidTypeArguments]
        Field(default="-created_at", description="Field to sort by; a leading - sorts descending"),
    )
    fields["limit"] = (
        int,
        Field(default=records.DEFAULT_LIMIT, ge=1, le=records.MAX_LIMIT, description="Page size"),
    )
    fields["cursor"] = (
        str | None,
        Field(default=None, max_length=500, description="`next_cursor` of the previous page"),
    )
    return create_model(  # pyright: ignore[reportCallIssue, reportUnknownVariableType]
        f"{camel(entity.name)}Search", __config__=FORBID, **fields
    )


def search_filters(entity: Entity, filters: BaseModel | None) -> dict[str, Any]:
    """The record service's filters from a search's `filters` object."""
    if filters is None:
        return {}
    given = filters.model_dump(exclude_none=True)
    found: dict[str, Any] = {}
    for f in filter_fields(entity):
        if f.key not in given:
            continue
        if f.bound == "eq":
            found[f.field] = given[f.key]
        else:
            bounds = found.get(f.field) or records.Range()
            found[f.field] = records.Range(
                min=given[f.key] if f.bound == "min" else bounds.min,
                max=given[f.key] if f.bound == "max" else bounds.max,
            )
    return found


def record_values(args: BaseModel, *, exclude: set[str] | None = None) -> dict[str, Any]:
    """The fields a model set, with custom fields as a plain mapping (for the record service)."""
    return args.model_dump(exclude_unset=True, exclude=exclude)
