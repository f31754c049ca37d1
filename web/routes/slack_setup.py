"""`/api/slack/...`: an admin connects real Slack and says who its users are.

Connecting takes only the Slack app's bot token: FlowGrid asks Slack which Slack workspace it
belongs to (`auth.test`), so no one can claim a Slack workspace they hold no token of, and a
Slack workspace connects to one FlowGrid workspace only.
"""

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import Field

from store.errors import InvalidInput
from store.services import slack_app
from web import slack_outbox
from web.deps import AdminSession
from web.routes.schemas import Strict, errors
from web.security import settings_of

router = APIRouter(tags=["slack"])


class InstallIn(Strict):
    bot_token: str = Field(description="The Slack app's bot token (xoxb-...)", max_length=500)


class LinkIn(Strict):
    member_id: uuid.UUID


@router.put(
    "/api/slack/install",
    summary="Connect a Slack workspace",
    description="Admins. The bot token is checked with Slack, sealed, and never shown again.",
    responses=errors(401, 403, 409, 422),
)
async def put_install(body: InstallIn, ts: AdminSession, request: Request) -> dict[str, Any]:
    token = slack_app.check_bot_token(body.bot_token)
    try:
        team = await slack_outbox.team_of(settings_of(request).slack_api_url, token)
    except slack_outbox.SlackRefused as refused:
        raise InvalidInput(f"bot_token: Slack did not accept it ({refused})") from None
    return await slack_app.install(ts, team_id=team, bot_token=token)


@router.get(
    "/api/slack/install", summary="The connected Slack workspace", responses=errors(401, 403)
)
async def get_install(ts: AdminSession) -> dict[str, Any]:
    found = await slack_app.installed(ts)
    return {"team_id": found.team_id if found else None}


@router.delete(
    "/api/slack/install", status_code=204, summary="Disconnect Slack", responses=errors(401, 403)
)
async def delete_install(ts: AdminSession) -> Response:
    await slack_app.uninstall(ts)
    return Response(status_code=204)


@router.put(
    "/api/slack/users/{slack_user_id}",
    status_code=204,
    summary="Link a Slack user to a member",
    responses=errors(401, 403, 404, 422),
)
async def put_link(slack_user_id: str, body: LinkIn, ts: AdminSession) -> Response:
    await slack_app.link_user(ts, slack_user_id, body.member_id)
    return Response(status_code=204)


@router.delete(
    "/api/slack/users/{slack_user_id}",
    status_code=204,
    summary="Unlink a Slack user",
    responses=errors(401, 403),
)
async def delete_link(slack_user_id: str, ts: AdminSession) -> Response:
    await slack_app.unlink_user(ts, slack_user_id)
    return Response(status_code=204)
