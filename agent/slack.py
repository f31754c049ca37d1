"""Nexus in Slack-style channels: a message that addresses Nexus gets its answer in the thread.

A member addresses Nexus by mentioning its bot user (`<@UNEXUS>`) or by writing in their direct
message with it. A thread is one member's Nexus conversation (the same `ChatService` turn as the
browser: their role, the sealed server-side history, approvals), tied to the thread's first
message by the first member who addresses Nexus there. Anyone else who addresses Nexus in that
thread is asked to start their own: a conversation holds what tools showed its member with
their role, and only they may continue it or decide its approvals.

When the turn ends, Nexus posts one reply in the thread: its answer, which calls wait for
approval (with their exact arguments), or what went wrong. Writing exactly `approve` or `deny`
(optionally `deny: reason`) to Nexus in the thread decides every call waiting there, through
`ChatService.decide`, the same path as the approval card in the browser. Channel messages are
sealed with the workspace key: like chat transcripts, they survive a person's erasure
(docs/audit.md, known limits).

Messages from bots (Nexus included) never reach this module, so Nexus cannot talk to itself.
"""

import asyncio
import contextlib
import functools
import json
import logging
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agent.events import RunLog
from agent.turn import Caller, ChatService
from store.errors import Conflict, DomainError, NotFound
from store.services import channels
from store.services.channels import NEXUS_USER, ChannelInfo, MessageInfo

logger = logging.getLogger("flowgrid.slack")
# Delivers a reply elsewhere too: (thread ts, text).
Forward = Callable[[str, str], Awaitable[None]]
MENTION = f"<@{NEXUS_USER}>"
RELAY_ACTOR = "system:slack-relay"
_DECISION = re.compile(r"^(approve|deny)\s*(?::\s*(.*))?$", re.IGNORECASE | re.DOTALL)
_ARGS_CHARS = 1500
MAX_REASON = 500
MAX_TURNS_PER_MEMBER = 3  # Slack turns running at once for one member in this process


def addresses_nexus(channel: ChannelInfo, text: str) -> bool:
    """A direct message with Nexus, or a message that mentions it."""
    return channel.is_im or MENTION in text


class NotYours(Conflict):
    """The thread is another member's conversation with Nexus."""


@dataclass
class SlackRelay:
    """Starts Nexus's turns for channel messages and posts the answers back."""

    chat: ChatService
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _running: Counter[uuid.UUID | None] = field(default_factory=Counter)

    async def message_posted(
        self,
        caller: Caller,
        channel: ChannelInfo,
        message: MessageInfo,
        *,
        forward: Forward | None = None,
    ) -> bool:
        """Start answering a member's `message` to Nexus; True when a turn started.

        Refusals that happen before a turn starts (another member's thread, Nexus still busy
        here, too many turns at once) are answered in the thread at once instead. `forward`
        also delivers every reply elsewhere (to real Slack, for a message that came from it).
        """
        post = functools.partial(self._post, forward=forward)
        text = message.text.replace(MENTION, " ").strip()
        root = await self._root(caller, channel, message)
        if self._running[caller.member_id] >= MAX_TURNS_PER_MEMBER:
            busy = f"you already have {MAX_TURNS_PER_MEMBER} questions running; wait for one"
            await post(caller, channel, root.ts, f"*Not started:* {busy}")
            return False
        self._running[caller.member_id] += 1  # the slot is held from here, before any await
        try:
            conversation = await self._conversation(caller, channel, root)
            decision = _DECISION.match(text)
            pending = await self.chat.pending(caller, conversation) if decision else []
            if decision and pending:
                approve = decision.group(1).lower() == "approve"
                reason = (decision.group(2) or "").strip()[:MAX_REASON] or None
                log = await self._decide(caller, conversation, pending, approve, reason)
            else:
                log = await self.chat.send(caller, conversation, text or "help")
        except BaseException as failed:
            self._running[caller.member_id] -= 1
            if not isinstance(failed, DomainError):
                raise
            await post(caller, channel, root.ts, f"*Not started:* {failed.detail}")
            return False
        task = asyncio.create_task(self._answer(caller, channel, root.ts, log, forward))
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
        async with caller.session() as ts:
            return await channels.thread_root(ts, channel, message.thread_ts)

    async def _conversation(
        self, caller: Caller, channel: ChannelInfo, root: MessageInfo
    ) -> uuid.UUID:
        """The thread's conversation: made and tied on first use, refused if another's."""
        conversation = root.conversation_id
        if conversation is None:
            made = await self.chat.create_conversation(caller, title=root.text[:80])
            async with caller.session() as ts:
                conversation = await channels.tie_conversation(ts, channel, root, made)
        try:
            await self.chat.check_access(caller, conversation)
        except NotFound:
            raise NotYours(
                "this thread is another member's conversation with Nexus; start a new thread "
                "(or write to Nexus in your direct message)"
            ) from None
        return conversation

    async def _decide(
        self,
        caller: Caller,
        conversation: uuid.UUID,
        pending: list[uuid.UUID],
        approve: bool,
        reason: str | None,
    ) -> RunLog:
        """Decide every waiting call of the thread; the last decision resumes the turn.

        A call that expired or was decided meanwhile is skipped, as the browser does.
        """
        logs = []
        for approval_id in pending:
            with contextlib.suppress(Conflict):
                logs.append(
                    await self.chat.decide(
                        caller, conversation, approval_id, approve=approve, reason=reason
                    )
                )
        if not logs:
            raise Conflict("nothing here waits for a decision any more")
        return logs[-1]  # the earlier ones only said "still waiting for the others"

    async def _answer(
        self,
        caller: Caller,
        channel: ChannelInfo,
        thread: str,
        log: RunLog,
        forward: Forward | None,
    ) -> None:
        try:
            events = [event async for _, event in log.follow()]
            reply = compose_reply(events)
            await self._post(caller, channel, thread, reply, run_id=log.run_id, forward=forward)
        except Exception:
            reference = uuid.uuid4().hex[:10]
            logger.exception("could not post Nexus's answer (reference %s)", reference)
            try:
                text = f"*Not finished:* Nexus could not post its answer (reference {reference})."
                await self._post(caller, channel, thread, text, forward=forward)
            except Exception:
                logger.exception("could not post the failure either (reference %s)", reference)
        finally:
            self._running[caller.member_id] -= 1

    async def _post(
        self,
        caller: Caller,
        channel: ChannelInfo,
        thread: str,
        text: str,
        *,
        run_id: uuid.UUID | None = None,
        forward: Forward | None = None,
    ) -> None:
        """Post as Nexus: an answer is audited as its run, anything else as the relay."""
        actor = f"agent:{run_id}/slack-reply" if run_id else RELAY_ACTOR
        async with caller.store.tenant_session(caller.tenant_id, actor, via="slack") as ts:
            await channels.post(
                ts, channel, author=NEXUS_USER, text=text, thread_ts=thread, now=datetime.now(UTC)
            )
        if forward is not None:
            try:
                await forward(thread, text)
            except Exception:  # the answer is stored here; the other side did not take it
                reference = uuid.uuid4().hex[:10]
                logger.exception("a reply could not be delivered (reference %s)", reference)


def compose_reply(events: list[Any]) -> str:
    """One Slack message from a turn's events: the answer, then the calls waiting for approval.

    A waiting call is shown with its exact arguments, so whoever approves in the thread sees
    what they approve (the browser's card also shows the records it touches).
    """
    text = "".join(e.data()["delta"] for e in events if e.kind == "text-delta").strip()
    parts = [text] if text else []
    waiting = [e.data() for e in events if e.kind == "approval-request"]
    for request in waiting:
        args = json.dumps(request.get("args") or {}, indent=1, default=str)[:_ARGS_CHARS]
        parts.append(f"*Waiting for approval:* `{request['name']}`\n```{args}```")
    if waiting:
        parts.append(
            f"Reply `{MENTION} approve` or `{MENTION} deny` in this thread to decide "
            f"{'it' if len(waiting) == 1 else 'all of them'}."
        )
    for event in events:
        data = event.data()
        if event.kind == "error":
            parts.append(f"*Not finished:* {data['message']}")
        elif event.kind == "done" and data.get("usage", {}).get("waiting_for"):
            parts.append("Noted. Other calls of this turn still wait for a decision.")
    reply = "\n\n".join(parts) or "Done."
    if len(reply) > channels.MAX_TEXT:
        reply = reply[: channels.MAX_TEXT - 40] + "\n\n(answer cut: it was too long)"
    return reply
