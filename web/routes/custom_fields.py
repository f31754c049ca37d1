"""`/api/v1/custom_fields`: the workspace's own fields on its entities (admins define them)."""

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from store.services import custom_fields
from web.deps import AdminSession, Viewer
from web.routes.schemas import Strict, errors

router = APIRouter(tags=["custom fields"])


class CustomFieldIn(Strict):
    entity: str = Field(description="company, contact, deal, product, task or ticket")
    key: str = Field(description="snake_case machine name", max_length=64)
    label: str = Field(max_length=120)
    type: str = Field(
        default="text", description="text, number, date, bool, select, email, url or phone"
    )
    options: list[str] | None = Field(default=None, description="Choices of a select field")


class CustomFieldOut(Strict):
    id: uuid.UUID
    entity: str
    key: str
    label: str
    type: str
    options: list[str] | None
    created_at: datetime


class CustomFieldPage(Strict):
    items: list[CustomFieldOut]
    next_cursor: str | None = None


@router.get(
    "/api/v1/custom_fields",
    summary="List custom field definitions",
    responses=errors(401, 403),
)
async def list_custom_fields(ts: Viewer, entity: str | None = None) -> CustomFieldPage:
    found = await custom_fields.list_definitions(ts, entity=entity)
    return CustomFieldPage(items=[CustomFieldOut(**d) for d in found])


@router.post(
    "/api/v1/custom_fields",
    summary="Define a custom field",
    description="Admins and owners. The field then appears in this workspace's records, "
    "schemas and Nexus tools.",
    status_code=201,
    responses=errors(401, 403, 409, 422),
)
async def define_custom_field(body: CustomFieldIn, ts: AdminSession) -> CustomFieldOut:
    await custom_fields.define_field(ts, **body.model_dump())
    found: dict[str, Any] = await custom_fields.find_definition(ts, body.entity, body.key)
    return CustomFieldOut(**found)


@router.delete(
    "/api/v1/custom_fields/{field_id}",
    summary="Delete a custom field definition",
    description="Admins and owners. Answers what was deleted.",
    responses=errors(401, 403, 404),
)
async def delete_custom_field(field_id: uuid.UUID, ts: AdminSession) -> CustomFieldOut:
    return CustomFieldOut(**await custom_fields.delete_definition(ts, field_id))
