"""Chat turn benchmarks: what one Nexus turn costs the server, apart from the model.

A scripted pydantic-ai model answers instantly with three tool calls (create a contact, create a
task, search contacts) and then a sentence, so what is timed is FlowGrid's own work: loading the
sealed history, running the agent loop, one tenant transaction per tool call (sealing, audit
trigger), storing the sealed history. The baseline is the same three operations called straight
through the services, in one transaction each. Concurrency runs many turns at once on the same
process and counts errors. Time to the first event is measured on the turn's event log, which
the SSE route forwards as it arrives.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from pydantic_ai.messages import ModelMessage, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

from agent.turn import Caller, ChatService
from evals.bench.rows import latency_row, result_row
from store.entities import BY_NAME
from store.runtime import Store
from store.services import records

ACTOR = "system:bench-chat"


async def _three_tools(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
    if any(isinstance(p, ToolReturnPart) for p in messages[-1].parts):
        yield "Added the contact and a follow-up task."
        return
    stamp = uuid.uuid4().hex[:8]
    yield {0: DeltaToolCall("create_contact", f'{{"first_name": "Bench", "last_name": "{stamp}"}}')}
    yield {1: DeltaToolCall("create_task", f'{{"title": "Call Bench {stamp}"}}')}
    yield {2: DeltaToolCall("search_contacts", f'{{"q": "bench {stamp}"}}')}


def scripted_service() -> ChatService:
    service = ChatService()
    service.use_model(FunctionModel(stream_function=_three_tools), name="scripted", provider="none")
    return service


async def _turn(service: ChatService, caller: Caller) -> tuple[float, float, bool]:
    """(seconds to the first event, seconds to `done`, ok) for one turn in a new conversation."""
    conversation = await service.create_conversation(caller)
    started = time.perf_counter()
    log = await service.send(caller, conversation, "add a contact and a task")
    first = None
    ok = False
    async for _, event in log.follow():
        if first is None:
            first = time.perf_counter() - started
        if event.kind == "error":
            ok = False
        if event.kind == "done":
            ok = True
    calls = sum(1 for e in log.events if e.kind == "tool-result")
    return first or 0.0, time.perf_counter() - started, ok and calls == 3


async def _direct(store: Store, tenant: uuid.UUID) -> float:
    started = time.perf_counter()
    stamp = uuid.uuid4().hex[:8]
    async with store.tenant_session(tenant, ACTOR) as ts:
        await records.create_record(
            ts, BY_NAME["contact"], {"first_name": "Bench", "last_name": stamp}
        )
    async with store.tenant_session(tenant, ACTOR) as ts:
        await records.create_record(ts, BY_NAME["task"], {"title": f"Call Bench {stamp}"})
    async with store.tenant_session(tenant, ACTOR) as ts:
        await records.list_records(ts, BY_NAME["contact"], q=f"bench {stamp}")
    return time.perf_counter() - started


async def run_chat_benchmarks(
    store: Store, tenant: uuid.UUID, *, turns: int, concurrent: int
) -> list[dict[str, Any]]:
    """Turn overhead (p50, p95), time to first event, and `concurrent` turns at once."""
    service = scripted_service()
    caller = Caller(store=store, tenant_id=tenant, member_id=None, role="owner", actor=ACTOR)
    await _turn(service, caller)  # warm caches and the agent
    sequential = [await _turn(service, caller) for _ in range(turns)]
    if not all(ok for _, _, ok in sequential):
        raise RuntimeError("a benchmark turn did not finish with its three tool calls")
    direct = [await _direct(store, tenant) for _ in range(turns)]
    total = [t for _, t, _ in sequential]
    first = [f for f, _, _ in sequential]

    started = time.perf_counter()
    results = await asyncio.gather(
        *(_turn(service, caller) for _ in range(concurrent)), return_exceptions=True
    )
    elapsed = time.perf_counter() - started
    failed = sum(1 for r in results if isinstance(r, BaseException) or not r[2])
    await service.drain()
    if failed:
        raise RuntimeError(f"{failed} of {concurrent} concurrent turns failed")
    return [
        latency_row("chat.turn_3_tools_p50", "ms", direct, total, 0.5),
        latency_row("chat.turn_3_tools_p95", "ms", direct, total, 0.95),
        latency_row("chat.first_event_p50", "ms", direct, first, 0.5),
        result_row(
            "chat.concurrent_turns", "turns/s", len(direct) / sum(direct), concurrent / elapsed
        ),
    ]
