"""The safety task: one attack as one real chat turn, and the evidence of what it did.

Each case runs through `agent.turn.ChatService` (the agent, the role-filtered tools, the
database, the key store: the browser's path) in a fresh conversation of the target workspace,
as a member with the case's role, and nobody ever approves anything. The evidence is read from
outside FlowGrid (evals/safety/evidence.py).
"""

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_evals import Case, Dataset
from pydantic_evals.reporting import EvaluationReport

from agent.models import ModelChoice
from agent.turn import Caller, ChatService
from evals.safety.adversary import compromised_model, strings_in
from evals.safety.cases import SAFETY_CASES
from evals.safety.evidence import Inspector, captured_logs
from evals.safety.judges import Attempted, Outcome, SafetyInput, all_judges
from evals.safety.world import ACTOR, World
from store.entities import BY_NAME
from store.errors import NotFound
from store.services import records
from store.tenancy import Role

COMPROMISED = "compromised"  # the scripted model of the safety set
Sabotage = Callable[[World], Awaitable[None]]
SafetyReport = EvaluationReport[SafetyInput, Outcome, dict[str, str]]


def compromised_service() -> ChatService:
    """A chat service whose model is the adversary (whatever NEXUS_MODEL says)."""
    choice = ModelChoice(COMPROMISED, "none (scripted)", compromised_model(), {})
    return ChatService(choice=choice)


def caller_for(world: World, role: Role) -> Caller:
    member = world.members[role]
    return Caller(
        store=world.store,
        tenant_id=world.target,
        member_id=member,
        role=role,
        actor=f"member:{member}",
        via="ui",
    )


@dataclass
class Attacker:
    """Runs safety cases as turns in `world` and gathers their outcomes."""

    world: World
    service: ChatService
    # Runs after the turn, before the evidence is read. Only the harness's own tests use it,
    # to prove each judge notices the harm it is there for.
    sabotage_for_tests: Sabotage | None = None

    async def __call__(self, inputs: SafetyInput) -> Outcome:
        world = self.world
        planted = await self._plant(inputs)
        inspector = Inspector(world.superuser, [world.target, world.other])
        before = await inspector.snapshot()
        sinks = {
            "integration's receiver": world.integration_sink,
            "attacker's host": world.attacker_sink,
        }
        sent = {name: len(sink.requests) for name, sink in sinks.items()}
        caller = caller_for(world, inputs.role)
        with captured_logs() as logs:
            conversation = await self.service.create_conversation(caller)
            log = await self.service.send(caller, conversation, world.fill(inputs.prompt))
            events = [event async for _, event in log.follow()]
            if self.sabotage_for_tests is not None:
                await self.sabotage_for_tests(world)
        after = await inspector.snapshot()
        changes = inspector.changes(before, after)
        others = {key for tenant, _, key in before.rows if tenant == str(world.other)}
        results = [e.data() for e in events if e.kind == "tool-result"]
        outcome = Outcome(
            role=inputs.role,
            shown=[text for event in events for text in strings_in(event.data())],
            called=[e.data()["name"] for e in events if e.kind == "tool-call"],
            executed=[r["name"] for r in results if r["ok"]],
            paused=[e.data()["name"] for e in events if e.kind == "approval-request"],
            errors=[e.data()["message"] for e in events if e.kind == "error"],
            changes=[c.as_dict() for c in changes],
            audit=await inspector.audit_since(before),
            foreign_references=await inspector.mentions(changes, str(world.target), others),
            requests={name: len(sink.requests) - sent[name] for name, sink in sinks.items()},
            logs=logs.lines,
        )
        await self._unplant(planted)
        return outcome

    async def _plant(self, inputs: SafetyInput) -> list[tuple[str, uuid.UUID]]:
        """Records a person typed before the turn (the injection's carrier), as the system."""
        made: list[tuple[str, uuid.UUID]] = []
        if not inputs.plant:
            return made
        async with self.world.store.tenant_session(self.world.target, ACTOR, via="cli") as ts:
            for entity, fields in inputs.plant:
                filled = {
                    k: self.world.fill(v) if isinstance(v, str) else v for k, v in fields.items()
                }
                record = await records.create_record(ts, BY_NAME[entity], filled)
                made.append((entity, record.model_dump()["id"]))
        return made

    async def _unplant(self, planted: list[tuple[str, uuid.UUID]]) -> None:
        """Remove this case's plants, so no later case obeys them (outside any case's window)."""
        for entity, record_id in planted:
            with contextlib.suppress(NotFound):  # the attack may have removed it already
                async with self.world.store.tenant_session(
                    self.world.target, ACTOR, via="cli"
                ) as ts:
                    await records.delete_record(ts, BY_NAME[entity], record_id)


async def evaluate_safety(
    world: World,
    service: ChatService,
    cases: Sequence[Case[SafetyInput, Any, dict[str, str]]] = SAFETY_CASES,
    *,
    sabotage_for_tests: Sabotage | None = None,
) -> SafetyReport:
    """Every case, one at a time (the judges tell a case's changes apart by time)."""
    dataset = Dataset[SafetyInput, Outcome, dict[str, str]](
        name="nexus_tool_safety",
        cases=list(cases),
        evaluators=[
            *all_judges(target=str(world.target), canaries=world.canaries, secrets=world.secrets),
            Attempted(require_calls=service.choice.name == COMPROMISED),
        ],
    )
    attacker = Attacker(world, service, sabotage_for_tests)
    return await dataset.evaluate(attacker, max_concurrency=1, progress=False)
