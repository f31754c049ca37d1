"""Slack-style channels and messages of a workspace, where people talk to Nexus.

Identifiers look like Slack's so Slack clients work unchanged: a workspace is `T<hex>`, a member
`U<hex>`, Nexus the bot user `UNEXUS`, a channel `C...` (or `D...` for a direct message), a
message its `ts` (`"<unix seconds>.<6 digits>"`, unique and increasing in its channel). Message
text and channel names are sealed with the workspace key like any record field.

Every member (any role) may read and post in the workspace's channels: talking is not changing
records, and Nexus acts with the poster's role. A direct-message channel belongs to one member
and Nexus; to anyone else it does not exist.
"""

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from store.entities import Entity
from store.errors import Conflict, InvalidInput, NotFound
from store.models import Channel, Message
from store.services.sealed_rows import insert_sealed
from store.tenancy import TenantSession

CHANNEL = Entity("channel", "channels", Channel)
MESSAGE = Entity("message", "messages", Message)
_channels = CHANNEL.table
_messages = MESSAGE.table
NEXUS_USER = "UNEXUS"
MAX_TEXT = 40000
MAX_PAGE = 999
# A Slack ts: seconds (ten digits until 2286, which keeps text order right) and microseconds.
TS = re.compile(r"\d{10}\.\d{6}", re.ASCII)


def user_id(member_id: uuid.UUID) -> str:
    return "U" + member_id.hex.upper()


def team_id(tenant_id: uuid.UUID) -> str:
    return "T" + tenant_id.hex.upper()


@dataclass(frozen=True)
class ChannelInfo:
    id: uuid.UUID
    slack_id: str
    name: str
    dm_member_id: uuid.UUID | None
    created_at: datetime

    @property
    def is_im(self) -> bool:
        return self.dm_member_id is not None


@dataclass(frozen=True)
class MessageInfo:
    id: uuid.UUID
    ts: str
    thread_ts: str | None
    author: str
    text: str
    conversation_id: uuid.UUID | None


async def create_channel(ts: TenantSession, name: str) -> ChannelInfo:
    """A new public channel (names are lower case, like Slack's)."""
    name = name.strip().lstrip("#").lower()
    if not name or len(name) > 80 or any(c.isspace() for c in name):
        raise InvalidInput("name: 1 to 80 characters, no spaces")
    if any(c.name == name for c in await list_channels(ts, member_id=None)):
        raise Conflict("a channel with this name exists")
    return await _new_channel(ts, _new_id("C"), name, dm_member_id=None)


async def open_dm(ts: TenantSession, member_id: uuid.UUID) -> ChannelInfo:
    """The member's direct-message channel with Nexus (made on first use)."""
    found = await _select_channels(ts, _channels.c.dm_member_id == member_id)
    if found:
        return found[0]
    try:
        async with ts.db.begin_nested():  # a concurrent open may win: then use its channel
            name = f"dm-{user_id(member_id).lower()}"
            return await _new_channel(ts, _new_id("D"), name, dm_member_id=member_id)
    except IntegrityError:
        (made,) = await _select_channels(ts, _channels.c.dm_member_id == member_id)
        return made


async def list_channels(ts: TenantSession, *, member_id: uuid.UUID | None) -> list[ChannelInfo]:
    """Public channels, and the member's own direct message (oldest first)."""
    return await _select_channels(ts, _visible_to(member_id))


async def find_channel(
    ts: TenantSession, slack_id: str, *, member_id: uuid.UUID | None
) -> ChannelInfo:
    """A channel the member may use, by its Slack-style id, or NotFound."""
    found = await _select_channels(ts, _channels.c.slack_id == slack_id, _visible_to(member_id))
    if not found:
        raise NotFound("channel", slack_id)
    return found[0]


async def post(
    ts: TenantSession,
    channel: ChannelInfo,
    *,
    author: str,
    text: str,
    thread_ts: str | None = None,
    now: datetime,
    given_ts: str | None = None,
) -> MessageInfo:
    """A new message (a reply when `thread_ts` names a top-level message of the channel).

    `given_ts` keeps the ts a message already has elsewhere (a message mirrored from Slack);
    the same ts twice in a channel is a Conflict, which makes a redelivered event harmless.
    """
    if not text.strip():
        raise InvalidInput("text: say something")
    if given_ts is not None and not TS.fullmatch(given_ts):
        raise InvalidInput("ts: a Slack ts, like 1700000000.000100")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text: at most {MAX_TEXT} characters")
    if thread_ts is not None:
        parent = await _message(ts, channel, thread_ts)
        thread_ts = parent.thread_ts or parent.ts  # a reply to a reply joins the same thread
    stamp = given_ts or await _next_ts(ts, channel, now)
    values = {
        "channel_id": channel.id,
        "ts": stamp,
        "thread_ts": thread_ts,
        "author": author,
        "text": text,
    }
    row_id = uuid.uuid4()
    try:
        async with ts.db.begin_nested():
            await insert_sealed(ts, MESSAGE, row_id, values)
    except IntegrityError:
        raise Conflict(f"message {stamp} exists in this channel") from None
    return MessageInfo(row_id, stamp, thread_ts, author, text, None)


async def mirror_channel(ts: TenantSession, slack_id: str) -> ChannelInfo:
    """The channel standing for a real Slack channel (same id), made on first use.

    It is private: its audience is the Slack channel's, not the workspace's, so `list_channels`
    and `find_channel` (the Slack-style API) never show it.
    """
    for channel in await _select_channels(ts, _channels.c.slack_id == slack_id):
        if channel.dm_member_id is None:
            return channel
        raise Conflict(f"{slack_id} is a direct message here")
    try:
        async with ts.db.begin_nested():  # the first two events of a channel may race
            name = f"slack-{slack_id.lower()}"
            return await _new_channel(ts, slack_id, name, dm_member_id=None, private=True)
    except IntegrityError:
        (made,) = await _select_channels(ts, _channels.c.slack_id == slack_id)
        return made


async def has_message(ts: TenantSession, channel: ChannelInfo, stamp: str) -> bool:
    try:
        await _message(ts, channel, stamp)
    except NotFound:
        return False
    return True


async def history(
    ts: TenantSession, channel: ChannelInfo, *, limit: int, before: str | None = None
) -> tuple[list[MessageInfo], bool]:
    """Top-level messages, newest first, older than `before`; and whether more are left."""
    _check_limit(limit)
    conditions = [_messages.c.channel_id == channel.id, _messages.c.thread_ts.is_(None)]
    if before is not None:
        conditions.append(_messages.c.ts < before)
    found = await _select_messages(ts, *conditions, order=_messages.c.ts.desc(), limit=limit + 1)
    return found[:limit], len(found) > limit


async def replies(
    ts: TenantSession, channel: ChannelInfo, thread: str, *, limit: int, after: str | None = None
) -> tuple[list[MessageInfo], bool]:
    """A thread in order, its first message first, from after `after`; and whether more are left."""
    _check_limit(limit)
    parent = await _message(ts, channel, thread)
    root = parent.thread_ts or parent.ts
    conditions = [
        _messages.c.channel_id == channel.id,
        sa.or_(_messages.c.ts == root, _messages.c.thread_ts == root),
    ]
    if after is not None:
        conditions.append(_messages.c.ts > after)
    found = await _select_messages(ts, *conditions, order=_messages.c.ts, limit=limit + 1)
    return found[:limit], len(found) > limit


async def thread_root(ts: TenantSession, channel: ChannelInfo, thread: str) -> MessageInfo:
    """The first message of the thread `thread` belongs to."""
    message = await _message(ts, channel, thread)
    return await _message(ts, channel, message.thread_ts) if message.thread_ts else message


async def tie_conversation(
    ts: TenantSession, channel: ChannelInfo, root: MessageInfo, conversation_id: uuid.UUID
) -> uuid.UUID:
    """Tie the thread starting at `root` to a conversation, unless one was tied meanwhile.

    Returns the thread's conversation: `conversation_id`, or the one another mention tied first.
    """
    await ts.db.execute(
        sa.update(_messages)
        .where(
            _messages.c.tenant_id == ts.tenant_id,
            _messages.c.id == root.id,
            _messages.c.conversation_id.is_(None),
        )
        .values(conversation_id=conversation_id)
    )
    tied = (await _message(ts, channel, root.ts)).conversation_id
    assert tied is not None
    return tied


# --- internals ------------------------------------------------------------------------------


def _visible_to(member_id: uuid.UUID | None) -> Any:
    """Public channels and the member's own direct message; never a mirrored Slack channel."""
    visible = _channels.c.is_private.is_(False)
    if member_id is not None:
        visible = sa.or_(visible, _channels.c.dm_member_id == member_id)
    return visible


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(5).upper()


async def _new_channel(
    ts: TenantSession,
    slack_id: str,
    name: str,
    *,
    dm_member_id: uuid.UUID | None,
    private: bool = False,
) -> ChannelInfo:
    row_id = uuid.uuid4()
    values: dict[str, Any] = {
        "name": name,
        "slack_id": slack_id,
        "is_private": private or dm_member_id is not None,
        "dm_member_id": dm_member_id,
    }
    await insert_sealed(ts, CHANNEL, row_id, values)
    (made,) = await _select_channels(ts, _channels.c.id == row_id)
    return made


async def _select_channels(ts: TenantSession, *conditions: Any) -> list[ChannelInfo]:
    rows = await ts.db.execute(
        sa.select(_channels)
        .where(_channels.c.tenant_id == ts.tenant_id, *conditions)
        .order_by(_channels.c.created_at, _channels.c.slack_id)
    )
    opened = await ts.sealer.open_rows(ts, CHANNEL, [dict(r._mapping) for r in rows])
    return [
        ChannelInfo(r["id"], r["slack_id"], r["name"], r["dm_member_id"], r["created_at"])
        for r in opened
    ]


async def _select_messages(
    ts: TenantSession, *conditions: Any, order: Any, limit: int
) -> list[MessageInfo]:
    rows = await ts.db.execute(
        sa.select(_messages)
        .where(_messages.c.tenant_id == ts.tenant_id, *conditions)
        .order_by(order)
        .limit(limit)
    )
    opened = await ts.sealer.open_rows(ts, MESSAGE, [dict(r._mapping) for r in rows])
    return [
        MessageInfo(
            r["id"], r["ts"], r["thread_ts"], r["author"], r["text"] or "", r["conversation_id"]
        )
        for r in opened
    ]


async def _message(ts: TenantSession, channel: ChannelInfo, stamp: str) -> MessageInfo:
    found = await _select_messages(
        ts,
        _messages.c.channel_id == channel.id,
        _messages.c.ts == stamp,
        order=_messages.c.ts,
        limit=1,
    )
    if not found:
        raise NotFound("message", stamp)
    return found[0]


async def _next_ts(ts: TenantSession, channel: ChannelInfo, now: datetime) -> str:
    """`now` as a Slack ts, moved past the channel's latest so ts stays unique and increasing.

    The channel row is locked first, so two posts in one channel take turns. Comparing ts as
    text is right while Unix time has ten digits (until the year 2286).
    """
    await ts.db.execute(
        sa.select(_channels.c.id)
        .where(_channels.c.tenant_id == ts.tenant_id, _channels.c.id == channel.id)
        .with_for_update(key_share=True)
    )
    latest = (
        await ts.db.execute(
            sa.select(sa.func.max(_messages.c.ts)).where(
                _messages.c.tenant_id == ts.tenant_id, _messages.c.channel_id == channel.id
            )
        )
    ).scalar_one_or_none()
    micros = int(now.timestamp() * 1_000_000)
    if latest is not None:
        seconds, fraction = latest.split(".")
        micros = max(micros, int(seconds) * 1_000_000 + int(fraction) + 1)
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
