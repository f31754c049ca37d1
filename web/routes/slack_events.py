"""Real Slack: `POST /slack/events` (the Events API receiver) and `/api/slack/...` (its setup).

An admin connects a Slack workspace with the Slack app's bot token (`PUT /api/slack/install`)
and links Slack users to members (`PUT /api/slack/users/{slack_user_id}`). Slack then delivers
mentions of the app, and direct messages to it, to `/slack/events`:

- the request must carry a valid v0 signature of its exact body under
  `FLOWGRID_SLACK_SIGNING_SECRET` (slack_sdk's verifier: HMAC-SHA256, at most 5 minutes old);
  without the setting the route answers 404, with a bad signature 401;
- `url_verification` is answered with its challenge; other events are acknowledged at once
  (Slack wants an answer within 3 s) and handled in the background, each `event_id` once;
- the message is mirrored into the workspace's channels (the Slack channel's id; a direct
  message goes to the member's own direct message with Nexus) and handed to Nexus exactly like
  a message of the Slack-style API (agent/slack.py), as the linked member, with their role;
- Nexus's replies are posted back to the Slack thread with `chat.postMessage` and the bot
  token, to the API URL the admin gave (Slack's, or a compatible server's). Messages from
  unlinked Slack users are not handed to Nexus: the thread is told to ask an admin.
"""

import asyncio
import json
import logging
import re
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field
from slack_sdk.signature import SignatureVerifier

from agent.slack import MENTION, RELAY_ACTOR, Forward
from agent.turn import Caller
from store.errors import Conflict
from store.runtime import Store
from store.services import channels, slack_app
from web.deps import AdminSession, get_store
from web.errors import error_body
from web.routes.schemas import Strict, errors
from web.routes.slack import read_capped, slack_relay
from web.security import settings_of

logger = logging.getLogger("flowgrid.slack")
router = APIRouter(tags=["slack"])
_TS = re.compile(r"\d{10}\.\d{6}", re.ASCII)
_SEEN_EVENTS = 10_000  # event ids remembered per process (Slack retries for about an hour)
POST_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
SLACK_AUTHOR = "USLACK"  # someone in Slack FlowGrid does not know


class InstallIn(Strict):
    team_id: str = Field(description="The Slack workspace id (T...)", max_length=32)
    bot_token: str = Field(description="The Slack app's bot token (xoxb-...)", max_length=500)
    api_url: str = Field(
        default=slack_app.SLACK_API,
        description="Slack's Web API, or a compatible server's",
        max_length=500,
    )


class LinkIn(Strict):
    member_id: uuid.UUID


# --- setup (admins) --------------------------------------------------------------------------


@router.put(
    "/api/slack/install",
    summary="Connect a Slack workspace",
    description="Admins. The bot token is sealed and never shown again.",
    responses=errors(401, 403, 409, 422),
)
async def put_install(body: InstallIn, ts: AdminSession) -> dict[str, Any]:
    return await slack_app.install(
        ts, team_id=body.team_id, bot_token=body.bot_token, api_url=body.api_url
    )


@router.get(
    "/api/slack/install", summary="The connected Slack workspace", responses=errors(401, 403)
)
async def get_install(ts: AdminSession) -> dict[str, Any]:
    found = await slack_app.installed(ts)
    return {"team_id": found.team_id, "api_url": found.api_url} if found else {"team_id": None}


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


# --- the receiver ----------------------------------------------------------------------------


@router.post(
    "/slack/events", summary="Slack Events API receiver (v0 signatures)", response_model=None
)
async def slack_events(request: Request) -> JSONResponse:
    secret = settings_of(request).slack_signing_secret
    if secret is None:
        detail = "Slack events are not enabled here (FLOWGRID_SLACK_SIGNING_SECRET)"
        return JSONResponse(error_body("not_found", detail), status_code=404)
    raw = await read_capped(request)
    signed = raw is not None and SignatureVerifier(secret.get_secret_value()).is_valid(
        raw or b"",
        request.headers.get("x-slack-request-timestamp", ""),
        request.headers.get("x-slack-signature", ""),
    )
    if raw is None or not signed:
        detail = "the request is not signed with this app's signing secret (or is too old)"
        return JSONResponse(error_body("unauthenticated", detail), status_code=401)
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return JSONResponse(error_body("invalid_input", "the body is not a JSON object"), 400)
    if payload.get("type") == "url_verification":
        return JSONResponse({"challenge": str(payload.get("challenge", ""))})
    if payload.get("type") == "event_callback" and _first_time(request, payload):
        task = asyncio.create_task(_handle(request, payload))
        _tasks(request).add(task)
        task.add_done_callback(_tasks(request).discard)
    return JSONResponse({"ok": True})


def _first_time(request: Request, payload: dict[str, Any]) -> bool:
    seen: OrderedDict[str, None] = _state(request, "slack_seen_events", OrderedDict)
    event_id = str(payload.get("event_id") or "")
    if not event_id or event_id in seen:
        return False
    seen[event_id] = None
    while len(seen) > _SEEN_EVENTS:
        seen.popitem(last=False)
    return True


async def _handle(request: Request, payload: dict[str, Any]) -> None:
    try:
        await _hand_to_nexus(request, get_store(request), payload)
    except Exception:
        logger.exception("a Slack event could not be handled (event %s)", payload.get("event_id"))


async def _hand_to_nexus(request: Request, store: Store, payload: dict[str, Any]) -> None:
    event = payload.get("event") or {}
    kind, channel_type = event.get("type"), event.get("channel_type")
    if event.get("bot_id") or event.get("subtype"):
        return  # bots (Nexus included) and edits, joins, deletions: nothing to answer
    if not (kind == "app_mention" or (kind == "message" and channel_type == "im")):
        return
    slack_channel, stamp = str(event.get("channel", "")), str(event.get("ts", ""))
    user, thread = str(event.get("user", "")), event.get("thread_ts")
    if not (_TS.fullmatch(stamp) and slack_channel and user):
        return
    tenant = await slack_app.workspace_of(store, str(payload.get("team_id", "")))
    if tenant is None:
        logger.info("an event from an unconnected Slack workspace was ignored")
        return
    async with store.tenant_session(tenant, RELAY_ACTOR, via="slack") as ts:
        installed = await slack_app.installed(ts)
        linked = await slack_app.member_for(ts, user)
    if installed is None:
        return
    root = str(thread) if thread and _TS.fullmatch(str(thread)) else stamp
    forward = _outbox(installed, slack_channel)
    if linked is None:
        await forward(
            root,
            f"I don't know who you are in FlowGrid yet: ask an admin to link Slack user {user}.",
        )
        return
    member_id, role = linked
    caller = Caller(
        store=store,
        tenant_id=tenant,
        member_id=member_id,
        role=role,
        actor=f"slack:{member_id}",
        via="slack",
    )
    text = _as_mention(str(event.get("text", "")), payload, kind == "app_mention")
    async with store.tenant_session(tenant, caller.actor, via="slack", role=role) as ts:
        if channel_type == "im":
            channel = await channels.open_dm(ts, member_id)
        else:
            channel = await channels.mirror_channel(ts, slack_channel)
        now = datetime.now(UTC)
        if root != stamp and not await channels.has_message(ts, channel, root):
            # The thread began before Nexus was in it: a placeholder stands for its first message.
            await channels.post(
                ts, channel, author=SLACK_AUTHOR, text="(a Slack message)", now=now, given_ts=root,
            )  # fmt: skip
        try:
            posted = await channels.post(
                ts, channel, author=channels.user_id(member_id), text=text,
                thread_ts=root if root != stamp else None, now=now, given_ts=stamp,
            )  # fmt: skip
        except Conflict:
            return  # delivered before (a retry after a restart)
    await slack_relay(request).message_posted(caller, channel, posted, forward=forward)


def _as_mention(text: str, payload: dict[str, Any], mentioned: bool) -> str:
    """The text with the app's own Slack mention written as Nexus's (`<@UNEXUS>`)."""
    for authorization in payload.get("authorizations") or []:
        bot_user = authorization.get("user_id")
        if bot_user:
            text = text.replace(f"<@{bot_user}>", MENTION)
    if mentioned and MENTION not in text:
        text = f"{MENTION} {text}"
    return text


def _outbox(installed: slack_app.Installed, channel: str) -> Forward:
    """Posts a reply into the Slack thread with the app's bot token (never logged)."""

    async def post(thread: str, text: str) -> None:
        async with httpx.AsyncClient(
            timeout=POST_TIMEOUT, follow_redirects=False, trust_env=False
        ) as client:
            response = await client.post(
                installed.api_url + "chat.postMessage",
                json={"channel": channel, "thread_ts": thread, "text": text},
                headers={"Authorization": f"Bearer {installed.bot_token}"},
            )
        answer = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        if response.status_code != 200 or not answer.get("ok"):
            raise RuntimeError(
                f"Slack refused a reply: HTTP {response.status_code}, {answer.get('error')}"
            )

    return post


def _tasks(request: Request) -> set[asyncio.Task[None]]:
    return _state(request, "slack_event_tasks", set)


def _state(request: Request, name: str, make: Any) -> Any:
    found = getattr(request.app.state, name, None)
    if found is None:
        found = make()
        setattr(request.app.state, name, found)
    return found
