"""`/slack/api/{method}`: a subset of Slack's Web API, enough for `slack_sdk` and `slack_bolt`.

Point a client at it with `WebClient(token=..., base_url="<FlowGrid>/slack/api/")`. Tokens are
FlowGrid's own (`flowgrid token create --kind api|bot`): an API token speaks as its member, a
bot token as a bot that cannot start Nexus's turns. Slack's wire conventions hold here, not the
REST API's: every answer is HTTP 200 with `{"ok": true, ...}` or `{"ok": false, "error": code}`;
arguments come from the query string, a form body or a JSON body; pagination is
`response_metadata.next_cursor` ("" on the last page).

Methods: `api.test`, `auth.test`, `users.list`, `users.info`, `conversations.list`,
`conversations.create`, `conversations.info`, `conversations.open` (a direct message with
Nexus), `conversations.history`, `conversations.replies`, `chat.postMessage`. A member's message
that mentions `<@UNEXUS>` (or any message in their direct message with Nexus) gets Nexus's
answer in its thread (agent/slack.py).
"""

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from agent.slack import SlackRelay, addresses_nexus
from store.auth import api_tokens, signin
from store.auth.principals import Principal, workspace_session
from store.errors import Conflict, DomainError, NotFound
from store.runtime import Store
from store.services import channels, membership
from store.services.channels import NEXUS_USER, ChannelInfo, MessageInfo
from web.deps import get_store, now
from web.errors import slack_code
from web.routes.chat import caller_for, chat_service
from web.security import settings_of

logger = logging.getLogger("flowgrid.slack")
router = APIRouter(tags=["slack"])
NEXUS_BOT = "BNEXUS"
DEFAULT_LIMIT = 100
MAX_BODY = 256 * 1024  # a message is at most 40,000 characters


class SlackError(Exception):
    """A Slack error code (`{"ok": false, "error": code}`)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class SlackCall:
    """One authenticated call: who, with which arguments."""

    request: Request
    store: Store
    principal: Principal
    args: dict[str, Any]

    @property
    def member_id(self) -> uuid.UUID:
        assert self.principal.member_id is not None
        return self.principal.member_id

    @property
    def is_bot(self) -> bool:
        return self.principal.token_kind == "bot"

    @property
    def author(self) -> str:
        """Who a message posted by this call is from: the member, or (a bot token) Nexus."""
        return NEXUS_USER if self.is_bot else channels.user_id(self.member_id)

    @property
    def team(self) -> str:
        assert self.principal.tenant_id is not None
        return channels.team_id(self.principal.tenant_id)

    def session(self) -> Any:
        return workspace_session(self.store, self.principal, via="slack")

    def text(self, name: str, *, required: bool = True) -> str | None:
        value = self.args.get(name)
        if value is None or value == "":
            if required:
                raise SlackError("invalid_arguments")
            return None
        return str(value)

    def limit(self) -> int:
        try:
            value = int(self.args.get("limit") or DEFAULT_LIMIT)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None
        return min(max(value, 1), channels.MAX_PAGE)

    def cursor(self) -> str | None:
        raw = self.text("cursor", required=False)
        if raw is None:
            return None
        try:
            return base64.urlsafe_b64decode(raw.encode()).decode().removeprefix("at:")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise SlackError("invalid_cursor") from None

    def ts_cursor(self) -> str | None:
        """A cursor that holds a message ts (history and replies)."""
        position = self.cursor()
        if position is not None and not channels.TS.fullmatch(position):
            raise SlackError("invalid_cursor")
        return position


Handler = Callable[[SlackCall], Awaitable[dict[str, Any]]]
METHODS: dict[str, Handler] = {}


def method(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        METHODS[name] = handler
        return handler

    return register


@router.api_route(
    "/slack/api/{name}",
    methods=["GET", "POST"],
    summary="Slack Web API subset (slack_sdk: base_url='.../slack/api/')",
    response_model=None,
)
async def slack_api(name: str, request: Request) -> JSONResponse:
    try:
        return _answer({"ok": True, **await _dispatch(name, request)})
    except SlackError as refused:
        return _answer({"ok": False, "error": refused.code})
    except DomainError as refused:
        return _answer({"ok": False, "error": slack_code(refused)})


async def _dispatch(name: str, request: Request) -> dict[str, Any]:
    query, body = await _arguments(request)
    args = {**query, **body}
    token = _bearer(request) or body.get("token")  # never from the URL: URLs end up in logs
    args.pop("token", None)
    if name == "api.test":  # Slack answers it without a token
        return {"args": args}
    handler = METHODS.get(name)
    if handler is None:
        raise SlackError("unknown_method")
    if "token" in query:
        raise SlackError("invalid_arguments")
    if not token:
        raise SlackError("not_authed")
    store = get_store(request)
    principal = await api_tokens.resolve_token(store, str(token), now=now(request))
    return await handler(SlackCall(request, store, principal, args))


# --- methods -----------------------------------------------------------------------------------


@method("auth.test")
async def auth_test(call: SlackCall) -> dict[str, Any]:
    me = await signin.describe(call.store, call.principal)
    assert me.workspace_id is not None
    found = {
        "url": settings_of(call.request).public_url.rstrip("/") + "/",
        "team": me.workspace_name,
        "team_id": channels.team_id(me.workspace_id),
    }
    if call.is_bot:
        return found | {"user": "nexus", "user_id": NEXUS_USER, "bot_id": NEXUS_BOT}
    return found | {"user": me.email.split("@")[0], "user_id": channels.user_id(call.member_id)}


@method("users.list")
async def users_list(call: SlackCall) -> dict[str, Any]:
    async with call.session() as ts:
        members = await membership.list_members(ts)
    people = [_member_json(m, call.team) for m in members]
    return {
        "members": [_nexus_json(call.team), *people],
        "response_metadata": {"next_cursor": ""},
    }


@method("users.info")
async def users_info(call: SlackCall) -> dict[str, Any]:
    wanted = call.text("user")
    if wanted == NEXUS_USER:
        return {"user": _nexus_json(call.team)}
    async with call.session() as ts:
        members = await membership.list_members(ts)
    for member in members:
        if channels.user_id(member.id) == wanted:
            return {"user": _member_json(member, call.team)}
    raise SlackError("user_not_found")


@method("conversations.list")
async def conversations_list(call: SlackCall) -> dict[str, Any]:
    types = set((call.text("types", required=False) or "public_channel").split(","))
    async with call.session() as ts:
        listed = await channels.list_channels(ts, member_id=call.member_id)
    found = [c for c in listed if ("im" if c.is_im else "public_channel") in types]
    position = call.cursor() or "0"
    if not (position.isascii() and position.isdecimal()):
        raise SlackError("invalid_cursor")
    start = int(position)
    page = found[start : start + call.limit()]
    more = start + len(page) < len(found)
    return {
        "channels": [_channel_json(c) for c in page],
        "response_metadata": {"next_cursor": _cursor(str(start + len(page))) if more else ""},
    }


@method("conversations.create")
async def conversations_create(call: SlackCall) -> dict[str, Any]:
    try:
        async with call.session() as ts:
            made = await channels.create_channel(ts, call.text("name") or "")
    except Conflict:
        raise SlackError("name_taken") from None
    return {"channel": _channel_json(made)}


@method("conversations.info")
async def conversations_info(call: SlackCall) -> dict[str, Any]:
    async with call.session() as ts:
        found = await _channel(ts, call)
    return {"channel": _channel_json(found)}


@method("conversations.open")
async def conversations_open(call: SlackCall) -> dict[str, Any]:
    if call.text("users") != NEXUS_USER:
        raise SlackError("user_not_found")  # direct messages are with Nexus only
    async with call.session() as ts:
        made = await channels.open_dm(ts, call.member_id)
    return {"channel": _channel_json(made)}


@method("conversations.history")
async def conversations_history(call: SlackCall) -> dict[str, Any]:
    async with call.session() as ts:
        found = await _channel(ts, call)
        page, more = await channels.history(ts, found, limit=call.limit(), before=call.ts_cursor())
    return {
        "messages": [_message_json(m) for m in page],
        "has_more": more,
        "response_metadata": {"next_cursor": _cursor(page[-1].ts) if more else ""},
    }


@method("conversations.replies")
async def conversations_replies(call: SlackCall) -> dict[str, Any]:
    thread = call.text("ts") or ""
    async with call.session() as ts:
        found = await _channel(ts, call)
        try:
            page, more = await channels.replies(
                ts, found, thread, limit=call.limit(), after=call.ts_cursor()
            )
        except NotFound:
            raise SlackError("thread_not_found") from None
    messages = [_message_json(m) for m in page]
    for message in messages:  # Slack marks a thread's first message with its own ts
        message.setdefault("thread_ts", message["ts"])
    return {
        "messages": messages,
        "has_more": more,
        "response_metadata": {"next_cursor": _cursor(page[-1].ts) if more else ""},
    }


@method("chat.postMessage")
async def chat_post_message(call: SlackCall) -> dict[str, Any]:
    text = call.text("text", required=False)
    if text is None or not text.strip():
        raise SlackError("no_text")
    if len(text) > channels.MAX_TEXT:
        raise SlackError("msg_too_long")
    async with call.session() as ts:
        found = await _channel(ts, call)
        try:
            posted = await channels.post(
                ts,
                found,
                author=call.author,
                text=text,
                thread_ts=call.text("thread_ts", required=False),
                now=now(call.request),
            )
        except NotFound:
            raise SlackError("thread_not_found") from None
    if not call.is_bot and addresses_nexus(found, posted.text):
        await _hand_to_nexus(call, found, posted)
    return {"channel": found.slack_id, "ts": posted.ts, "message": _message_json(posted)}


# --- plumbing ----------------------------------------------------------------------------------


async def _hand_to_nexus(call: SlackCall, channel: ChannelInfo, posted: MessageInfo) -> None:
    """Start Nexus's answer. The message is stored either way, so the post always succeeds."""
    try:
        caller = await caller_for(call.store, call.principal, "slack")
        await slack_relay(call.request).message_posted(caller, channel, posted)
    except Exception:
        logger.exception("Nexus could not take message %s in %s", posted.ts, channel.slack_id)


def slack_relay(request: Request) -> SlackRelay:
    relay = getattr(request.app.state, "slack", None)
    if relay is None:
        relay = request.app.state.slack = SlackRelay(chat_service(request))
    return relay


async def _channel(ts: Any, call: SlackCall) -> ChannelInfo:
    try:
        return await channels.find_channel(ts, call.text("channel") or "", member_id=call.member_id)
    except NotFound:
        raise SlackError("channel_not_found") from None


async def _arguments(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """(query string, form or JSON body): Slack accepts any mix. Bodies are capped."""
    query: dict[str, Any] = dict(request.query_params)
    if request.method != "POST":
        return query, {}
    raw = await read_capped(request)
    if raw is None:
        raise SlackError("request_too_large")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        return query, body
    if content_type.startswith("application/x-www-form-urlencoded"):
        # The stdlib parses what Slack clients send (no file uploads here).
        return query, dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return query, {}


async def read_capped(request: Request, limit: int = MAX_BODY) -> bytes | None:
    """The body, or None when it is larger than `limit` (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > limit:
        return None
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            return None
    return raw


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() or None if header.lower().startswith("bearer ") else None


def _answer(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, media_type="application/json; charset=utf-8")


def _cursor(position: str) -> str:
    return base64.urlsafe_b64encode(f"at:{position}".encode()).decode()


def _channel_json(channel: ChannelInfo) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": channel.slack_id,
        "name": channel.name,
        "created": int(channel.created_at.timestamp()),
        "is_channel": not channel.is_im,
        "is_im": channel.is_im,
        "is_private": channel.is_im,
        "is_archived": False,
    }
    if channel.is_im:
        found["user"] = NEXUS_USER
    return found


def _message_json(message: MessageInfo) -> dict[str, Any]:
    found: dict[str, Any] = {
        "type": "message",
        "text": message.text,
        "ts": message.ts,
        "user": message.author,
    }
    if message.author == NEXUS_USER:
        found["bot_id"] = NEXUS_BOT
    if message.thread_ts:
        found["thread_ts"] = message.thread_ts
    return found


def _member_json(member: membership.MemberInfo, team: str) -> dict[str, Any]:
    name = member.email.split("@")[0]
    return {
        "id": channels.user_id(member.id),
        "team_id": team,
        "name": name,
        "real_name": name,
        "is_bot": False,
        "deleted": False,
        "profile": {"email": member.email, "real_name": name, "display_name": name},
    }


def _nexus_json(team: str) -> dict[str, Any]:
    return {
        "id": NEXUS_USER,
        "team_id": team,
        "name": "nexus",
        "real_name": "Nexus",
        "is_bot": True,
        "deleted": False,
        "profile": {"real_name": "Nexus", "display_name": "Nexus", "bot_id": NEXUS_BOT},
    }
