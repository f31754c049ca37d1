"""`/api/members`: who is in the workspace, with which role. Admins manage them.

Every change is a write to the `members` tenant table, so the workspace's audit trail records
it with the acting member (or token) as the actor.
"""

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import Field

from store.services import membership
from web.deps import AdminSession, Now, SettingsDep, Viewer
from web.routes.schemas import Strict, errors
from web.settings import WebSettings

router = APIRouter(tags=["members"])


class MemberOut(Strict):
    id: uuid.UUID
    email: str
    role: str
    created_at: datetime


class MemberInviteIn(Strict):
    email: str = Field(max_length=320)
    role: str = Field(default="member", description="owner, admin, member or viewer")


class MemberInvitedOut(Strict):
    member: MemberOut
    invite_url: str = Field(description="Single-use link for the person; give it to them")
    invite_expires_at: datetime


class RoleIn(Strict):
    role: str = Field(description="owner, admin, member or viewer")


def invite_url(settings: WebSettings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/login?invite={token}"


@router.get("/api/members", summary="Members of the workspace", responses=errors(401, 403))
async def list_members(ts: Viewer) -> list[MemberOut]:
    return [MemberOut(**m.__dict__) for m in await membership.list_members(ts)]


@router.post(
    "/api/members",
    summary="Invite a person",
    description="Admins; only owners may invite owners. Answers a single-use invite link.",
    status_code=201,
    responses=errors(401, 403, 409, 422),
)
async def invite_member(
    body: MemberInviteIn, ts: AdminSession, settings: SettingsDep, now: Now
) -> MemberInvitedOut:
    invited = await membership.invite_member(ts, body.email, body.role, now)
    return MemberInvitedOut(
        member=MemberOut(**invited.member.__dict__),
        invite_url=invite_url(settings, invited.invite_token),
        invite_expires_at=invited.expires_at,
    )


@router.patch(
    "/api/members/{member_id}",
    summary="Change a member's role",
    description="Admins; owners are changed only by owners, and one owner always remains.",
    responses=errors(401, 403, 404, 422),
)
async def change_role(member_id: uuid.UUID, body: RoleIn, ts: AdminSession) -> MemberOut:
    return MemberOut(**(await membership.change_role(ts, member_id, body.role)).__dict__)


@router.delete(
    "/api/members/{member_id}",
    summary="Remove a member",
    description="Their sessions and API tokens stop working on their next request.",
    responses=errors(401, 403, 404),
)
async def remove_member(member_id: uuid.UUID, ts: AdminSession) -> MemberOut:
    return MemberOut(**(await membership.remove_member(ts, member_id)).__dict__)
