"""The typed events of a chat turn, and the bounded log that lets a client resume them.

A turn is a sequence of these events (INTERFACE.md, "Chat stream"). Each gets a number in its
run's `RunLog`; the web layer sends it as the SSE `id:` so a client that lost the connection
asks `GET .../runs/{run_id}/events` with `Last-Event-ID` and receives the rest, whether the run
is still going or just finished. Logs live in this process's memory, bounded in number
(`RunRegistry.MAX_RUNS`) and size (`RunLog.MAX_EVENTS`); the history itself is in the database.
"""

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class TurnEvent:
    """Base of the chat events; `kind` is the SSE event name."""

    kind: ClassVar[str] = ""

    def data(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MessageStart(TurnEvent):
    kind: ClassVar[str] = "message-start"
    conversation_id: str
    run_id: str


@dataclass(frozen=True)
class TextDelta(TurnEvent):
    kind: ClassVar[str] = "text-delta"
    delta: str


@dataclass(frozen=True)
class ToolCallEvent(TurnEvent):
    kind: ClassVar[str] = "tool-call"
    id: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class ToolResultEvent(TurnEvent):
    kind: ClassVar[str] = "tool-result"
    id: str
    name: str
    ok: bool
    result: Any


@dataclass(frozen=True)
class ApprovalRequestEvent(TurnEvent):
    kind: ClassVar[str] = "approval-request"
    approval_id: str | None
    tool_call_id: str
    name: str
    args: dict[str, Any]
    effect: str | None
    preview: Any
    expires_at: str | None


@dataclass(frozen=True)
class ErrorEvent(TurnEvent):
    kind: ClassVar[str] = "error"
    code: str
    message: str


@dataclass(frozen=True)
class Done(TurnEvent):
    kind: ClassVar[str] = "done"
    run_id: str
    usage: dict[str, Any]


@dataclass
class RunLog:
    """The events of one run so far, numbered from 1, and whether the run has ended."""

    MAX_EVENTS: ClassVar[int] = 5000

    run_id: uuid.UUID
    tenant_id: uuid.UUID
    conversation_id: uuid.UUID
    events: list[TurnEvent] = field(default_factory=list)
    finished: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, event: TurnEvent) -> None:
        # A runaway turn must not eat the process: past the cap only the ending is kept.
        if len(self.events) < self.MAX_EVENTS or isinstance(event, ErrorEvent | Done):
            self.events.append(event)
        if isinstance(event, Done):
            self.finished = True
        self._changed.set()

    def finish(self) -> None:
        self.finished = True
        self._changed.set()

    async def follow(self, after: int = 0) -> AsyncIterator[tuple[int, TurnEvent]]:
        """`(number, event)` for every event after `after`, waiting for new ones until the end."""
        seen = max(after, 0)
        while True:
            while seen < len(self.events):
                seen += 1
                yield seen, self.events[seen - 1]
            if self.finished:
                return
            self._changed.clear()
            if seen < len(self.events) or self.finished:
                continue
            await self._changed.wait()


class RunRegistry:
    """The recent runs of this process, by id (bounded; the oldest finished ones go first)."""

    MAX_RUNS: ClassVar[int] = 256

    def __init__(self) -> None:
        self._runs: OrderedDict[uuid.UUID, RunLog] = OrderedDict()

    def open(self, log: RunLog) -> RunLog:
        self._runs[log.run_id] = log
        while len(self._runs) > self.MAX_RUNS:
            oldest = next((k for k, v in self._runs.items() if v.finished), None)
            if oldest is None:
                break
            del self._runs[oldest]
        return log

    def get(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, run_id: uuid.UUID
    ) -> RunLog | None:
        """The run, only for the workspace and conversation it belongs to."""
        log = self._runs.get(run_id)
        if log is None or log.tenant_id != tenant_id or log.conversation_id != conversation_id:
            return None
        return log
