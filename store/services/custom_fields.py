"""Workspace-defined custom fields: definitions and the validation of their values."""

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, insert, select

from store.errors import Conflict, InvalidInput, NotFound
from store.models import CustomFieldDefinition
from store.models.organize import CUSTOM_FIELD_ENTITIES, CUSTOM_FIELD_TYPES
from store.services.access import require_role
from store.tenancy import TenantSession

_definitions = CustomFieldDefinition.__table__  # pyright: ignore[reportAttributeAccessIssue]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://[^\s/$.?#].[^\s]*$", re.IGNORECASE)
_PHONE = re.compile(r"^\+?[0-9 ().-]{4,32}$")
MAX_TEXT = 2000
# Value patterns schemas may advertise (the URL check is case-insensitive, so it stays here).
PATTERNS = {"email": _EMAIL.pattern, "phone": _PHONE.pattern}


async def definitions_for(ts: TenantSession, entity: str) -> dict[str, dict[str, Any]]:
    rows = await ts.db.execute(
        select(_definitions).where(
            _definitions.c.tenant_id == ts.tenant_id, _definitions.c.entity == entity
        )
    )
    return {row.key: dict(row._mapping) for row in rows}


async def validate_custom_values(
    ts: TenantSession, entity: str, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Check each value against this workspace's definition; returns JSON-ready values."""
    definitions = await definitions_for(ts, entity)
    clean: dict[str, Any] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            known = ", ".join(sorted(definitions)) or "none defined"
            raise InvalidInput(f"custom.{key}: no such custom field on {entity} (known: {known})")
        clean[key] = None if value is None else _coerce(key, definition, value)
    return clean


def _coerce(key: str, definition: Mapping[str, Any], value: Any) -> Any:
    kind = definition["type"]
    text = str(value).strip()
    try:
        if kind == "number":
            if isinstance(value, bool):
                raise InvalidOperation
            return str(Decimal(text))
        if kind == "bool":
            if isinstance(value, bool):
                return value
            raise InvalidOperation
        if kind == "date":
            return dt.date.fromisoformat(text).isoformat()
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"custom.{key}: expected a {kind}, got {value!r}") from None
    if kind == "select":
        options = definition["options"] or []
        if text not in options:
            raise InvalidInput(f"custom.{key}: must be one of {options}")
        return text
    pattern = {"email": _EMAIL, "url": _URL, "phone": _PHONE}.get(kind)
    if pattern is not None and not pattern.match(text):
        raise InvalidInput(f"custom.{key}: not a valid {kind}")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"custom.{key}: at most {MAX_TEXT} characters")
    return text


_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Names that mean who is asking or where, never a record's data: refused as custom field keys.
RESERVED_KEYS = frozenset(
    {"id", "tenant_id", "tenant", "workspace", "workspace_id", "actor", "role", "user_id", "via"}
)
MAX_FIELDS_PER_ENTITY = 50
MAX_OPTIONS = 100


async def all_definitions(ts: TenantSession) -> dict[str, list[dict[str, Any]]]:
    """Every custom field of the workspace, by entity, in the order they were defined."""
    rows = await ts.db.execute(
        select(_definitions)
        .where(_definitions.c.tenant_id == ts.tenant_id)
        .order_by(_definitions.c.created_at, _definitions.c.key)
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(row.entity, []).append(
            {"key": row.key, "label": row.label, "type": row.type, "options": row.options}
        )
    return found


async def define_field(
    ts: TenantSession,
    *,
    entity: str,
    key: str,
    label: str,
    type: str,
    options: list[str] | None = None,
) -> dict[str, Any]:
    """Add a custom field to an entity of this workspace (admins and owners only)."""
    require_role(ts, "admin", to="define custom fields")
    if entity not in CUSTOM_FIELD_ENTITIES:
        raise InvalidInput(f"entity must be one of {CUSTOM_FIELD_ENTITIES}")
    if type not in CUSTOM_FIELD_TYPES:
        raise InvalidInput(f"type must be one of {CUSTOM_FIELD_TYPES}")
    if not _KEY.match(key):
        raise InvalidInput("key must be snake_case: a lower-case letter, then letters, digits, _")
    if key in RESERVED_KEYS:
        raise InvalidInput(f"{key!r} is a reserved name; choose another key")
    label = label.strip()
    if not 1 <= len(label) <= 120:
        raise InvalidInput("label must be 1 to 120 characters")
    clean_options = _options(type, options)
    existing = await definitions_for(ts, entity)
    if key in existing:
        raise Conflict(f"{entity} already has a custom field {key!r}")
    if len(existing) >= MAX_FIELDS_PER_ENTITY:
        raise InvalidInput(f"at most {MAX_FIELDS_PER_ENTITY} custom fields per entity")
    await ts.db.execute(
        insert(_definitions).values(
            tenant_id=ts.tenant_id,
            id=uuid.uuid4(),
            entity=entity,
            key=key,
            label=label,
            type=type,
            options=clean_options,
        )
    )
    return {"entity": entity, "key": key, "label": label, "type": type, "options": clean_options}


def _options(kind: str, options: list[str] | None) -> list[str] | None:
    if kind != "select":
        if options:
            raise InvalidInput("options are only for select fields")
        return None
    clean = list(dict.fromkeys(o.strip() for o in options or [] if o.strip()))
    if not clean or len(clean) > MAX_OPTIONS or any(len(o) > 100 for o in clean):
        raise InvalidInput(f"a select field needs 1 to {MAX_OPTIONS} options of <= 100 characters")
    return clean


# --- definitions as records (the /api/v1/custom_fields routes) ------------------------------


def _definition(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "entity": row.entity,
        "key": row.key,
        "label": row.label,
        "type": row.type,
        "options": row.options,
        "created_at": row.created_at,
    }


async def list_definitions(ts: TenantSession, *, entity: str | None = None) -> list[dict[str, Any]]:
    """The workspace's custom field definitions with their ids, oldest first."""
    require_role(ts, "viewer", to="see custom fields")
    query = select(_definitions).where(_definitions.c.tenant_id == ts.tenant_id)
    if entity is not None:
        query = query.where(_definitions.c.entity == entity)
    rows = await ts.db.execute(query.order_by(_definitions.c.created_at, _definitions.c.key))
    return [_definition(row) for row in rows]


async def find_definition(ts: TenantSession, entity: str, key: str) -> dict[str, Any]:
    """One definition by entity and key (e.g. right after `define_field`)."""
    row = (
        await ts.db.execute(
            select(_definitions).where(
                _definitions.c.tenant_id == ts.tenant_id,
                _definitions.c.entity == entity,
                _definitions.c.key == key,
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound("custom field", f"{entity}.{key}")
    return _definition(row)


async def delete_definition(ts: TenantSession, field_id: uuid.UUID) -> dict[str, Any]:
    """Remove a custom field definition (admins and owners). Returns what was removed."""
    require_role(ts, "admin", to="delete custom fields")
    row = (
        await ts.db.execute(
            delete(_definitions)
            .where(_definitions.c.tenant_id == ts.tenant_id, _definitions.c.id == field_id)
            .returning(*_definitions.c)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("custom field", field_id)
    return _definition(row)
