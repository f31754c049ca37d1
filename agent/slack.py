"""Nexus in Slack-style channels: a message that addresses Nexus gets its answer in the thread.

A member addresses Nexus by mentioning its bot user (`<@UNEXUS>`) or by writing in their direct
message with it. The thread is one Nexus conversation (the same `ChatService` turn as the
browser: the member's role, the sealed server-side history, approvals), tied to the thread's
first message. When the turn ends, Nexus posts one reply in the thread: its answer, what waits
for approval, or what went wrong. A paused call is decided in the thread by writing `approve`
or `deny` to Nexus; the decision goes through `ChatService.decide`, exactly as the approval
card in the browser does, so the same person-and-role checks apply.

Messages from bots (Nexus included) never start a turn, so Nexus cannot talk to itself.
"""

import asyncio
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agent.events import RunLog
from agent.turn import Caller, ChatService
from store.errors import DomainError
from store.services import channels
from store.services.channels import NEXUS_USER, ChannelInfo, MessageInfo

logger = logging.getLogger("flowgrid.slack")
MENTION = f"<@{NEXUS_USER}>"
_DECISION = re.compile(r"^\s*(approve|approved|yes|deny|denied|no)\b\s*(.*)$", re.IGNORECASE | re.S)
_PREVIEW_CHARS = 1500


def addresses_nexus(channel: ChannelInfo, text: str) -> bool:
    """A direct message with Nexus, or a message that mentions it."""
    return channel.is_im or MENTION in text


@dataclass
class SlackRelay:
    """Starts Nexus's turns for channel messages and posts the answers back."""

    chat: ChatService
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def message_posted(
        self, caller: Caller, channel: ChannelInfo, message: MessageInfo
    ) -> bool:
        """Start answering `message` if it addresses Nexus; True when a turn started.

        Refusals that happen before a turn starts (Nexus is still busy in this thread, there is
        nothing to decide) are answered in the thread at once instead.
        """
        if not addresses_nexus(channel, message.text):
            return False
        text = message.text.replace(MENTION, " ").strip()
        root = await self._root(caller, channel, message)
        try:
            conversation = await self._conversation(caller, root)
            decision = _DECISION.match(text)
            pending = await self._pending(caller, conversation) if decision else []
            if decision and pending:
                approve = decision.group(1).lower() in ("approve", "approved", "yes")
                log = await self._decide(caller, conversation, pending, approve, decision.group(2))
            else:
                log = await self.chat.send(caller, conversation, text or "help")
        except DomainError as refused:
            await self._reply(caller, channel, root.ts, _refusal(refused), run_id=None)
            return False
        task = asyncio.create_task(self._answer(caller, channel, root.ts, log))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def drain(self) -> None:
        """Wait for the answers still being written (shutdown, tests)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- steps -------------------------------------------------------------------------------

    async def _root(
        self, caller: Caller, channel: ChannelInfo, message: MessageInfo
    ) -> MessageInfo:
        if message.thread_ts is None:
            return message
        async with _session(caller) as ts:
            return await channels.thread_root(ts, channel, message.thread_ts)

    async def _conversation(self, caller: Caller, root: MessageInfo) -> uuid.UUID:
        """The thread's conversation, made and tied to its first message on first use."""
        if root.conversation_id is not None:
            return root.conversation_id
        conversation = await self.chat.create_conversation(caller, title=root.text[:80])
        async with _session(caller) as ts:
            await channels.tie_conversation(ts, root, conversation)
        return conversation

    async def _pending(self, caller: Caller, conversation: uuid.UUID) -> list[str]:
        history = await self.chat.history(caller, conversation)
        return [p["approval_id"] for p in history["pending"]]

    async def _decide(
        self,
        caller: Caller,
        conversation: uuid.UUID,
        pending: list[str],
        approve: bool,
        reason: str,
    ) -> RunLog:
        """Decide every waiting call of the thread; the last decision resumes the turn."""
        logs = [
            await self.chat.decide(
                caller, conversation, uuid.UUID(approval_id), approve=approve, reason=reason or None
            )
            for approval_id in pending
        ]
        return logs[-1]  # the earlier ones only said "still waiting for the others"

    async def _answer(self, caller: Caller, channel: ChannelInfo, thread: str, log: RunLog) -> None:
        try:
            events = [event async for _, event in log.follow()]
            await self._reply(caller, channel, thread, compose_reply(events), run_id=log.run_id)
        except Exception:
            logger.exception("could not post Nexus's answer in a thread (run %s)", log.run_id)

    async def _reply(
        self,
        caller: Caller,
        channel: ChannelInfo,
        thread: str,
        text: str,
        *,
        run_id: uuid.UUID | None,
    ) -> None:
        actor = f"agent:{run_id or uuid.uuid4()}/slack-reply"
        async with caller.store.tenant_session(caller.tenant_id, actor, via="slack") as ts:
            await channels.post(
                ts, channel, author=NEXUS_USER, text=text, thread_ts=thread, now=datetime.now(UTC)
            )


def compose_reply(events: list[Any]) -> str:
    """One Slack message from a turn's events: the answer, then what waits for approval."""
    text = "".join(e.data()["delta"] for e in events if e.kind == "text-delta").strip()
    parts = [text] if text else []
    for event in events:
        data = event.data()
        if event.kind == "approval-request":
            preview = json.dumps(data.get("preview"), indent=1, default=str)[:_PREVIEW_CHARS]
            parts.append(
                f"*Waiting for approval:* `{data['name']}`\n```{preview}```\n"
                f"Reply `{MENTION} approve` or `{MENTION} deny` in this thread."
            )
        elif event.kind == "error":
            parts.append(f"*Not finished:* {data['message']}")
        elif event.kind == "done" and data.get("usage", {}).get("waiting_for"):
            parts.append("Noted. Other calls of this turn still wait for a decision.")
    return "\n\n".join(parts) or "Done."


def _refusal(refused: DomainError) -> str:
    return f"*Not started:* {refused.detail}"


def _session(caller: Caller) -> Any:
    return caller.store.tenant_session(
        caller.tenant_id, caller.actor, via=caller.via, role=caller.role
    )
