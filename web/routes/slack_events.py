"""`POST /slack/events`: real Slack's Events API, once an admin connected it (slack_setup.py).

Slack delivers mentions of the app, and direct messages to it, here:

- the request must carry a valid v0 signature of its exact body under
  `FLOWGRID_SLACK_SIGNING_SECRET` (slack_sdk's verifier: HMAC-SHA256, at most 5 minutes old);
  without the setting the route answers 404, with a missing or bad signature 401;
- `url_verification` is answered with its challenge; other events are acknowledged at once
  (Slack wants an answer within 3 s) and handled in the background, each `event_id` once;
- the message is mirrored into the workspace's channels and handed to Nexus like a message of
  the Slack-style API (agent/slack.py), as the linked member, with their role. A mirrored Slack
  channel is private (its audience is Slack's, not FlowGrid's roles): the Slack-style API does
  not list or open it; a direct message goes to the member's own direct message with Nexus;
- Nexus's replies are posted back to the Slack thread (web/slack_outbox.py). Messages from
  unlinked Slack users are not handed to Nexus: the thread is told to ask an admin.
"""

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from slack_sdk.signature import SignatureVerifier

from agent.slack import MENTION, RELAY_ACTOR
from agent.turn import Caller
from store.errors import Conflict
from store.runtime import Store
from store.services import channels, slack_app
from web import slack_outbox
from web.deps import get_store
from web.errors import error_body
from web.routes.slack import read_capped, slack_relay
from web.security import settings_of

logger = logging.getLogger("flowgrid.slack")
router = APIRouter(tags=["slack"])
_SEEN_EVENTS = 10_000  # event ids remembered per process (Slack retries for about an hour)
SLACK_AUTHOR = "USLACK"  # someone in Slack FlowGrid does not know


@router.post(
    "/slack/events", summary="Slack Events API receiver (v0 signatures)", response_model=None
)
async def slack_events(request: Request) -> JSONResponse:
    secret = settings_of(request).slack_signing_secret
    if secret is None:
        detail = "Slack events are not enabled here (FLOWGRID_SLACK_SIGNING_SECRET)"
        return JSONResponse(error_body("not_found", detail), status_code=404)
    stamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    if not (stamp.isascii() and stamp.isdecimal() and signature.isascii() and signature):
        return _unsigned()
    raw = await read_capped(request)
    if raw is None:
        return JSONResponse(error_body("invalid_input", "the body is too large"), 413)
    try:
        signed = SignatureVerifier(secret.get_secret_value()).is_valid(raw, stamp, signature)
    except (ValueError, TypeError, UnicodeDecodeError):  # a body that is not UTF-8, and such
        signed = False
    if not signed:
        return _unsigned()
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


def _unsigned() -> JSONResponse:
    detail = "the request is not signed with this app's signing secret (or is too old)"
    return JSONResponse(error_body("unauthenticated", detail), status_code=401)


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
    if not (channels.TS.fullmatch(stamp) and slack_channel and user):
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
    root = str(thread) if thread and channels.TS.fullmatch(str(thread)) else stamp
    api_url = settings_of(request).slack_api_url

    async def forward(thread_ts: str, text: str) -> None:
        await slack_outbox.reply(api_url, installed.bot_token, slack_channel, thread_ts, text)

    if linked is None:
        await forward(root, f"Ask an admin to link Slack user {user} to you in FlowGrid first.")
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
            # The thread began before Nexus was in it: a placeholder stands for its first
            # message (another delivery may have written it already).
            with contextlib.suppress(Conflict):
                await channels.post(
                    ts, channel, author=SLACK_AUTHOR, text="(a Slack message)", now=now,
                    given_ts=root,
                )  # fmt: skip
        try:
            posted = await channels.post(
                ts,
                channel,
                author=channels.user_id(member_id),
                text=text[: channels.MAX_TEXT],
                thread_ts=None if root == stamp else root,
                now=now,
                given_ts=stamp,
            )
        except Conflict:
            logger.info("a Slack message was delivered again; it is answered once")
            return
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


def _tasks(request: Request) -> set[asyncio.Task[None]]:
    return _state(request, "slack_event_tasks", set)


def _state(request: Request, name: str, make: type) -> Any:
    """A per-app object kept on `app.state` (made on first use)."""
    found = getattr(request.app.state, name, None)
    if found is None:
        found = make()
        setattr(request.app.state, name, found)
    return found
