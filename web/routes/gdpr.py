"""GDPR in the product: a contact's data on request, and erasure (admins and owners)."""

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from store.services import gdpr
from web.deps import AdminSession
from web.routes.schemas import Strict, errors

router = APIRouter(tags=["contacts"])


class EraseIn(Strict):
    reason: str | None = Field(default=None, max_length=500, description="Why, for the trail")


class Erased(Strict):
    contact_id: uuid.UUID
    subject_key_shredded: bool
    removed: dict[str, int]


@router.get(
    "/api/v1/contacts/{contact_id}/export",
    summary="Everything FlowGrid holds about a contact (data subject access)",
    responses=errors(401, 403, 404),
)
async def export_contact(contact_id: uuid.UUID, ts: AdminSession) -> dict[str, Any]:
    return await gdpr.export_contact(ts, contact_id)


@router.post(
    "/api/v1/contacts/{contact_id}/erase",
    summary="Erase a contact for good (right to be forgotten)",
    description="Deletes the contact and what is only about it, shreds its key so old copies "
    "(audit values, backups) are unreadable, and records an `erase` event without personal data.",
    responses=errors(401, 403, 404, 422),
)
async def erase_contact(
    contact_id: uuid.UUID, ts: AdminSession, body: EraseIn | None = None
) -> Erased:
    erasure = await gdpr.erase_contact(ts, contact_id, reason=body.reason if body else None)
    return Erased(
        contact_id=erasure.contact_id,
        subject_key_shredded=erasure.key_shredded,
        removed=erasure.removed,
    )
