"""Response and request bodies shared by the route modules."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from store.auth.signin import Me


class ErrorOut(BaseModel):
    """Every error: a stable code and a sentence for people."""

    error: str = Field(examples=["forbidden"])
    detail: str


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    platform_admin: bool


class WorkspaceOut(BaseModel):
    id: uuid.UUID
    name: str | None


class MeOut(BaseModel):
    """The signed-in person; `csrf_token` goes into X-CSRF-Token on state-changing requests."""

    user: UserOut
    workspace: WorkspaceOut | None
    role: str | None = Field(description="owner, admin, member or viewer; null on the platform")
    member_id: uuid.UUID | None
    auth_method: str = Field(description="password, passkey or token")
    csrf_token: str | None = Field(description="null for API-token requests, which need none")


def me_out(me: Me, csrf_token: str | None) -> MeOut:
    return MeOut(
        user=UserOut(id=me.identity_id, email=me.email, platform_admin=me.is_platform_admin),
        workspace=WorkspaceOut(id=me.workspace_id, name=me.workspace_name)
        if me.workspace_id
        else None,
        role=me.role,
        member_id=me.member_id,
        auth_method=me.auth_method,
        csrf_token=csrf_token,
    )


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Deleted(BaseModel):
    id: uuid.UUID
    deleted: bool = True


class Timestamped(BaseModel):
    created_at: datetime


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer, all with the same body."""
    text = {
        400: "Malformed request (e.g. a cursor that was not handed out)",
        401: "Not signed in, or the credential is invalid or expired",
        403: "Signed in but not allowed (role, CSRF token, origin)",
        404: "No such record in this workspace",
        409: "Conflict with the current state",
        410: "The workspace was retired",
        422: "Invalid input",
        429: "Too many failed attempts; see Retry-After",
    }
    return {code: {"model": ErrorOut, "description": text[code]} for code in codes}
