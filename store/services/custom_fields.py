"""Workspace-defined custom fields: definitions and the validation of their values."""

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select

from store.errors import InvalidInput
from store.models import CustomFieldDefinition
from store.tenancy import TenantSession

_definitions = CustomFieldDefinition.__table__  # pyright: ignore[reportAttributeAccessIssue]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://[^\s/$.?#].[^\s]*$", re.IGNORECASE)
_PHONE = re.compile(r"^\+?[0-9 ().-]{4,32}$")
MAX_TEXT = 2000


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
