"""The platform console's API (`/api/platform/...`): workspaces and their keys, never records.

Only a platform admin's passkey session gets in (`PlatformAdmin`). Every action that touches a
workspace is written to that workspace's own audit trail as `platform:<admin id>`
(store/services/platform_admin.py).
"""

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import Field

from store.services import platform_admin, tenants
from web.deps import PlatformAdmin, SettingsDep, StoreDep
from web.routes.members import invite_url
from web.routes.schemas import Strict, errors

router = APIRouter(tags=["platform"])


class WorkspaceRow(Strict):
    id: uuid.UUID
    name: str
    status: str
    key_provider: str
    key_state: str
    created_at: datetime
    retired_at: datetime | None


class WorkspaceIn(Strict):
    name: str = Field(max_length=120)
    owner_email: str = Field(max_length=320)


class WorkspaceCreatedOut(Strict):
    id: uuid.UUID
    owner_email: str
    invite_url: str = Field(description="Single-use owner invite; give it to the owner")
    invite_expires_at: datetime


class RetireIn(Strict):
    confirm_name: str = Field(description="The workspace's name, typed again", max_length=120)


class RetiredOut(Strict):
    id: uuid.UUID
    key_state: str


@router.get(
    "/api/platform/workspaces",
    summary="Workspaces with status and key state",
    responses=errors(401, 403),
)
async def list_workspaces(admin: PlatformAdmin, store: StoreDep) -> list[WorkspaceRow]:
    del admin
    return [
        WorkspaceRow(
            id=w.tenant_id,
            name=w.name,
            status=w.status,
            key_provider=w.key_provider,
            key_state=w.key_state,
            created_at=w.created_at,
            retired_at=w.retired_at,
        )
        for w in await tenants.list_workspaces(store)
    ]


@router.post(
    "/api/platform/workspaces",
    summary="Create a workspace with an owner invite",
    status_code=201,
    responses=errors(401, 403, 422),
)
async def create_workspace(
    body: WorkspaceIn, admin: PlatformAdmin, store: StoreDep, settings: SettingsDep
) -> WorkspaceCreatedOut:
    created = await platform_admin.create_workspace(
        store, admin.identity_id, name=body.name, owner_email=body.owner_email
    )
    return WorkspaceCreatedOut(
        id=created.tenant_id,
        owner_email=created.owner_email,
        invite_url=invite_url(settings, created.invite_token),
        invite_expires_at=created.invite_expires_at,
    )


@router.post(
    "/api/platform/workspaces/{workspace_id}/retire",
    summary="Retire a workspace's key (crypto-shredding)",
    description="Irreversible. `confirm_name` must equal the workspace's name. The workspace's "
    "audit trail records the action before the key goes.",
    responses=errors(401, 403, 404, 422),
)
async def retire_workspace(
    workspace_id: uuid.UUID, body: RetireIn, admin: PlatformAdmin, store: StoreDep
) -> RetiredOut:
    state = await platform_admin.retire_workspace(
        store, admin.identity_id, workspace_id, confirm_name=body.confirm_name
    )
    return RetiredOut(id=workspace_id, key_state=state)
