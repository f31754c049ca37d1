"""One chat turn: load the server-held history, run Nexus, emit typed events, store the result.

`ChatService.send` (a new user message) and `ChatService.decide` (an approval decision) check
everything that can be refused *before* a run starts, raising domain errors the web layer
answers with `{"error", "detail"}`. They then start the run as a background task and return its
`RunLog`, which the web layer streams as SSE.

Decisions worth knowing:

- History comes only from the database (sealed, per workspace). A client sends text or an
  approval id, never messages, so it cannot inject a tool result or an "approved" call.
- An approval id must belong to this conversation and be pending; the person's decision is
  stored by `tools.approvals.decide`, and the executor runs the call only after claiming that
  stored approval for the exact arguments (tools/execution.py). The run resumes once every
  paused call of the turn is decided.
- A client that disconnects does not stop the run: it continues in its background task, each
  tool call in its own tenant transaction, and its events stay in the `RunLog` for
  `GET .../runs/{run_id}/events` with `Last-Event-ID`. Nothing is ever half-applied, because a
  tool call commits or rolls back as a whole; the history is stored when the run ends.
- One run at a time per conversation (in this process); a second message meanwhile is a
  conflict.
- A message sent while approvals are pending denies them ("the user moved on") first.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai import (
    AgentRunResultEvent,
    DeferredToolRequests,
    DeferredToolResults,
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    RunTimedOut,
    TextPart,
    TextPartDelta,
    ToolCallPart,
    ToolDenied,
    UsageLimitExceeded,
    UserPromptPart,
)
from pydantic_ai.models import Model
from pydantic_core import to_jsonable_python

from agent.events import (
    ApprovalRequestEvent,
    Done,
    ErrorEvent,
    MessageStart,
    RunLog,
    RunRegistry,
    TextDelta,
    ToolCallEvent,
    ToolResultEvent,
    TurnEvent,
)
from agent.models import TURN_TIMEOUT_SECONDS, USAGE_LIMITS, ModelChoice, choose_model
from agent.nexus import ChatDeps, build_chat_agent
from store.errors import Conflict, InvalidInput, NotFound
from store.runtime import Store
from store.services import approvals as approvals_store
from store.services import conversations
from store.tenancy import Role, Via
from tools import approvals as tool_approvals
from tools.toolset import BY_NAME as TOOLS_BY_NAME

logger = logging.getLogger("flowgrid.agent")
MAX_TEXT = 8000
MOVED_ON = "The user sent a new message instead of deciding; not done."


@dataclass(frozen=True)
class Caller:
    """Who is chatting, as the web layer established it (never from the request body)."""

    store: Store
    tenant_id: uuid.UUID
    member_id: uuid.UUID | None
    role: Role
    actor: str
    via: Via = "ui"
    workspace_name: str = ""

    def session(self) -> Any:
        """One tenant transaction as this caller, with their role."""
        return self.store.tenant_session(self.tenant_id, self.actor, via=self.via, role=self.role)


@dataclass
class ChatService:
    """Chat turns of one process: the model in use, running runs and their event logs."""

    choice: ModelChoice = field(default_factory=choose_model)
    runs: RunRegistry = field(default_factory=RunRegistry)
    _busy: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def model(self) -> Model | str:
        return self.choice.model

    def use_model(self, model: Model, name: str = "test", provider: str = "test") -> None:
        """Swap the model (tests use scripted FunctionModels here)."""
        self.choice = ModelChoice(name, provider, model, {})

    # --- starting turns ------------------------------------------------------------------

    async def create_conversation(self, caller: Caller, title: str | None = None) -> uuid.UUID:
        async with caller.session() as ts:
            return await conversations.create(ts, member_id=caller.member_id, title=title)

    async def check_access(self, caller: Caller, conversation_id: uuid.UUID) -> None:
        """NotFound unless the conversation is the caller's own."""
        async with caller.session() as ts:
            await conversations.get_for(ts, conversation_id, caller.member_id)

    async def pending(self, caller: Caller, conversation_id: uuid.UUID) -> list[uuid.UUID]:
        """Ids of the conversation's approval requests still waiting for a decision."""
        async with caller.session() as ts:
            await conversations.get_for(ts, conversation_id, caller.member_id)
            stored = await conversations.approvals(ts, conversation_id)
        return [row["id"] for row in stored if row["state"] == "pending"]

    async def send(self, caller: Caller, conversation_id: uuid.UUID, text: str) -> RunLog:
        """Start a turn for a new user message; returns its log (events arrive as it runs)."""
        text = text.strip()
        if not text:
            raise InvalidInput("text: say something")
        if len(text) > MAX_TEXT:
            raise InvalidInput(f"text: at most {MAX_TEXT} characters")
        await self.check_access(caller, conversation_id)  # before _claim: a 409 would tell
        self._claim(caller, conversation_id)
        try:
            history = await self._history(caller, conversation_id)
            results = await self._deny_pending(caller, conversation_id, history)
        except BaseException:
            self._release(caller, conversation_id)
            raise
        return self._start(caller, conversation_id, history, text, results)

    async def decide(
        self,
        caller: Caller,
        conversation_id: uuid.UUID,
        approval_id: uuid.UUID,
        *,
        approve: bool,
        reason: str | None = None,
    ) -> RunLog:
        """Record a decision on a pending approval of this conversation and resume the turn.

        Raises NotFound for an approval id this conversation does not have, and Conflict for
        one already decided or expired.
        """
        await self.check_access(caller, conversation_id)
        self._claim(caller, conversation_id)
        try:
            history = await self._history(caller, conversation_id)
            async with caller.session() as ts:
                stored = await conversations.approvals(ts, conversation_id)
            row = next((r for r in stored if r["id"] == approval_id), None)
            if row is None:
                raise NotFound("approval request", approval_id)
            if row["state"] != "pending":
                raise Conflict(f"this request was already {row['state']}")
            await tool_approvals.decide(
                self._deps(caller, conversation_id),
                approval_id,
                approve=approve,
                reason=reason,
                via=caller.via,
            )
            results, waiting = await self._decided(
                caller, conversation_id, history, {approval_id: reason}
            )
        except BaseException:
            self._release(caller, conversation_id)
            raise
        if waiting:
            # Other calls of this turn still wait for a person: nothing to run yet.
            log = self._new_log(caller, conversation_id)
            log.add(Done(str(log.run_id), {"waiting_for": waiting}))
            self._release(caller, conversation_id)
            return log
        return self._start(caller, conversation_id, history, None, results)

    async def events(self, caller: Caller, conversation_id: uuid.UUID, run_id: uuid.UUID) -> RunLog:
        """The log of a recent run of this conversation, or NotFound."""
        await self.check_access(caller, conversation_id)
        log = self.runs.get(caller.tenant_id, conversation_id, run_id)
        if log is None:
            raise NotFound("run", run_id)
        return log

    async def history(self, caller: Caller, conversation_id: uuid.UUID) -> dict[str, Any]:
        """The stored conversation as display items, plus its pending approvals."""
        async with caller.session() as ts:
            conversation = await conversations.get_for(ts, conversation_id, caller.member_id)
            steps = await conversations.load(ts, conversation_id)
            stored = await conversations.approvals(ts, conversation_id)
            waiting = [
                await approvals_store.get_request(ts, r["id"])
                for r in stored
                if r["state"] == "pending"
            ]
        items: list[dict[str, Any]] = []
        for step in steps:
            for message in ModelMessagesTypeAdapter.validate_python(step["content"]):
                items.extend(_display(message, step["run_id"]))
        return {
            "id": str(conversation_id),
            "title": conversation.get("title"),
            "items": items,
            "approvals": [
                {**r, "id": str(r["id"]), "expires_at": r["expires_at"].isoformat()} for r in stored
            ],
            # Pending requests in the shape of `approval-request` events, to show them again.
            "pending": [_pending_event(r) for r in waiting],
        }

    async def drain(self) -> None:
        """Wait for the running turns (app shutdown, tests)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- running -------------------------------------------------------------------------

    def _start(
        self,
        caller: Caller,
        conversation_id: uuid.UUID,
        history: list[ModelMessage],
        text: str | None,
        results: DeferredToolResults | None,
    ) -> RunLog:
        log = self._new_log(caller, conversation_id)
        log.add(MessageStart(str(conversation_id), str(log.run_id)))
        task = asyncio.create_task(self._run(caller, conversation_id, log, history, text, results))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return log

    def _new_log(self, caller: Caller, conversation_id: uuid.UUID) -> RunLog:
        return self.runs.open(RunLog(uuid.uuid4(), caller.tenant_id, conversation_id))

    async def _run(
        self,
        caller: Caller,
        conversation_id: uuid.UUID,
        log: RunLog,
        history: list[ModelMessage],
        text: str | None,
        results: DeferredToolResults | None,
    ) -> None:
        started = time.monotonic()
        deps = self._deps(caller, conversation_id, run_id=log.run_id)
        agent = build_chat_agent()
        usage: dict[str, Any] = {}
        try:
            async with agent.run_stream_events(
                text,
                message_history=history,
                deferred_tool_results=results,
                deps=deps,
                model=self.choice.model,
                model_settings=self.choice.settings or None,
                usage_limits=USAGE_LIMITS,
                timeout=TURN_TIMEOUT_SECONDS,
            ) as stream:
                async for event in stream:
                    for out in _translate(event):
                        log.add(out)
                    if isinstance(event, AgentRunResultEvent):
                        result = event.result
                        await self._store(
                            caller, conversation_id, log.run_id, result.new_messages()
                        )
                        if isinstance(result.output, DeferredToolRequests):
                            for body in tool_approvals.pending_approvals(result.output):
                                log.add(ApprovalRequestEvent(**body))
                        run_usage = result.usage() if callable(result.usage) else result.usage
                        usage = {
                            "requests": run_usage.requests,
                            "tool_calls": run_usage.tool_calls,
                            "input_tokens": run_usage.input_tokens,
                            "output_tokens": run_usage.output_tokens,
                            "cache_read_tokens": run_usage.cache_read_tokens,
                            "cache_write_tokens": run_usage.cache_write_tokens,
                        }
        except UsageLimitExceeded:
            log.add(ErrorEvent("usage_limit", "This turn needed too many steps and was stopped."))
        except (RunTimedOut, TimeoutError):
            log.add(ErrorEvent("timeout", "This turn took too long and was stopped."))
        except Exception:
            reference = uuid.uuid4().hex[:10]
            logger.exception("chat turn failed (reference %s)", reference)
            log.add(
                ErrorEvent(
                    "internal",
                    f"Nexus could not finish this turn (reference {reference}). Changes made "
                    "by completed steps are kept; nothing was half-applied.",
                )
            )
        finally:
            usage["latency_ms"] = round((time.monotonic() - started) * 1000)
            usage["model"] = self.choice.name
            log.add(Done(str(log.run_id), usage))
            self._release(caller, conversation_id)
            logger.info("chat turn %s: %s", log.run_id, usage)

    async def _store(
        self,
        caller: Caller,
        conversation_id: uuid.UUID,
        run_id: uuid.UUID,
        messages: Sequence[ModelMessage],
    ) -> None:
        dumped = ModelMessagesTypeAdapter.dump_python(list(messages), mode="json")
        async with caller.session() as ts:
            await conversations.append(ts, conversation_id, "assistant", dumped, run_id=run_id)

    # --- history and approvals -----------------------------------------------------------

    async def _history(self, caller: Caller, conversation_id: uuid.UUID) -> list[ModelMessage]:
        """The stored history the next run continues from (send and decide checked access)."""
        async with caller.session() as ts:
            steps = await conversations.load(ts, conversation_id)
        messages: list[ModelMessage] = []
        for step in steps:
            messages.extend(ModelMessagesTypeAdapter.validate_python(step["content"]))
        return messages

    async def _deny_pending(
        self, caller: Caller, conversation_id: uuid.UUID, history: list[ModelMessage]
    ) -> DeferredToolResults | None:
        """Deny the approvals a new message leaves undecided; their results close the calls."""
        open_calls = _unanswered(history)
        if not open_calls:
            return None
        async with caller.session() as ts:
            stored = await conversations.approvals(ts, conversation_id)
        for row in stored:
            if row["tool_call_id"] in open_calls and row["state"] == "pending":
                # Decided or expired meanwhile: it is denied below all the same.
                with contextlib.suppress(Conflict, NotFound):
                    await tool_approvals.decide(
                        self._deps(caller, conversation_id),
                        row["id"],
                        approve=False,
                        via=caller.via,
                    )
        return DeferredToolResults(approvals={call: ToolDenied(MOVED_ON) for call in open_calls})

    async def _decided(
        self,
        caller: Caller,
        conversation_id: uuid.UUID,
        history: list[ModelMessage],
        reasons: dict[uuid.UUID, str | None],
    ) -> tuple[DeferredToolResults | None, list[str]]:
        """The results to resume with, or the approval ids still waiting for a person."""
        open_calls = _unanswered(history)
        async with caller.session() as ts:
            stored = await conversations.approvals(ts, conversation_id)
        latest = {row["tool_call_id"]: row for row in stored}
        decisions, waiting = [], []
        for call in open_calls:
            row = latest.get(call)
            if row is None or row["state"] in ("expired", "conflict", "executed"):
                decisions.append(
                    tool_approvals.Decision(uuid.uuid4(), call, False, "Not decided in time.")
                )
            elif row["state"] == "pending":
                waiting.append(str(row["id"]))
            else:
                decisions.append(
                    tool_approvals.Decision(
                        row["id"], call, row["state"] == "approved", reasons.get(row["id"])
                    )
                )
        if waiting:
            return None, waiting
        if not decisions:
            raise Conflict("this conversation is not waiting for an approval")
        return tool_approvals.results_for(decisions), []

    # --- plumbing ------------------------------------------------------------------------

    def _deps(
        self, caller: Caller, conversation_id: uuid.UUID, run_id: uuid.UUID | None = None
    ) -> ChatDeps:
        return ChatDeps(
            store=caller.store,
            tenant_id=caller.tenant_id,
            role=caller.role,
            run_id=run_id or uuid.uuid4(),
            member_id=caller.member_id,
            conversation_id=conversation_id,
            workspace_name=caller.workspace_name,
        )

    def _claim(self, caller: Caller, conversation_id: uuid.UUID) -> None:
        key = (caller.tenant_id, conversation_id)
        if key in self._busy:
            raise Conflict("Nexus is still answering in this conversation; wait for it")
        self._busy.add(key)

    def _release(self, caller: Caller, conversation_id: uuid.UUID) -> None:
        self._busy.discard((caller.tenant_id, conversation_id))


def _pending_event(request: dict[str, Any]) -> dict[str, Any]:
    tool = TOOLS_BY_NAME.get(request["tool_name"])
    return _jsonable(
        ApprovalRequestEvent(
            approval_id=str(request["id"]),
            tool_call_id=request["tool_call_id"],
            name=request["tool_name"],
            args=request["args"] or {},
            effect=tool.spec.effect if tool else None,
            preview=(request["snapshot"] or {}).get("preview"),
            expires_at=request["expires_at"].isoformat(),
        ).data()
    )


def _unanswered(history: list[ModelMessage]) -> list[str]:
    """Ids of tool calls in the history that have no result yet (paused for approval)."""
    called: list[str] = []
    answered: set[str] = set()
    for message in history:
        for part in message.parts:
            if isinstance(part, ToolCallPart):
                called.append(part.tool_call_id)
            elif isinstance(message, ModelRequest):
                answer = getattr(part, "tool_call_id", None)
                if answer:
                    answered.add(answer)
    return [c for c in called if c not in answered]


def _translate(event: Any) -> list[TurnEvent]:
    """pydantic-ai stream events -> chat events (the rest are internal)."""
    if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
        # The first chunk of a text part arrives in the part itself, not as a delta.
        return [TextDelta(event.part.content)] if event.part.content else []
    if isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
        return [TextDelta(event.delta.content_delta)] if event.delta.content_delta else []
    if isinstance(event, FunctionToolCallEvent):
        part = event.part
        return [ToolCallEvent(part.tool_call_id, part.tool_name, part.args_as_dict())]
    if isinstance(event, FunctionToolResultEvent):
        part = event.part
        outcome = getattr(part, "outcome", "success")
        return [
            ToolResultEvent(
                part.tool_call_id, part.tool_name, outcome == "success", _jsonable(part.content)
            )
        ]
    return []


def _jsonable(value: Any) -> Any:
    return to_jsonable_python(value, fallback=str)


def _display(message: ModelMessage, run_id: Any) -> list[dict[str, Any]]:
    """A stored message as the items the chat page shows."""
    items: list[dict[str, Any]] = []
    run = str(run_id) if run_id else None
    for part in message.parts:
        if isinstance(part, UserPromptPart) and isinstance(part.content, str):
            items.append({"type": "user", "text": part.content, "run_id": run})
        elif isinstance(part, TextPart) and isinstance(message, ModelResponse):
            items.append({"type": "assistant", "text": part.content, "run_id": run})
        elif isinstance(part, ToolCallPart):
            items.append(
                {
                    "type": "tool-call",
                    "id": part.tool_call_id,
                    "name": part.tool_name,
                    "args": part.args_as_dict(),
                    "run_id": run,
                }
            )
        elif isinstance(message, ModelRequest) and getattr(part, "tool_call_id", None):
            outcome = getattr(part, "outcome", "success")
            items.append(
                {
                    "type": "tool-result",
                    "id": part.tool_call_id,  # pyright: ignore[reportAttributeAccessIssue]
                    "name": getattr(part, "tool_name", None),
                    "ok": outcome == "success",
                    "result": _jsonable(getattr(part, "content", None)),
                    "run_id": run,
                }
            )
    return items
