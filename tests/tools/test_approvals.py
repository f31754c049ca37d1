"""Approvals hold on the server: a paused call runs once, as approved, on unchanged records."""

import copy
import uuid

import pytest
from pydantic_ai import DeferredToolResults, ToolApproved, ToolCallPart

from store.errors import Conflict
from store.runtime import Store
from store.services.approvals import DEFAULT_TTL
from tests.tools.conftest import Workspace
from tests.tools.support import Clock, Nexus, Turn, audit_rows, fetch, make, rows
from tools import approvals as tool_approvals


async def state_of(store: Store, tenant: uuid.UUID, turn: Turn) -> str:
    approval_id = turn.paused.metadata["call-0"]["approval_id"]
    (row,) = await rows(
        store,
        tenant,
        "SELECT state FROM approval_requests WHERE tenant_id = :tenant AND id = :id",
        id=approval_id,
    )
    return row.state


def approve_in_client(turn: Turn) -> DeferredToolResults:
    """What a client could send on its own: 'approved', with no decision on the server."""
    return DeferredToolResults(approvals={"call-0": True})


async def test_pause_shows_a_preview_and_changes_nothing(
    nexus: Nexus, store: Store, workspace: Workspace, clock: Clock
) -> None:
    deal = await make(store, workspace.tenant, "deal", name="Old deal", amount=10)
    turn = await nexus.run(("delete_deal", {"id": str(deal.id)}))
    (event,) = tool_approvals.pending_approvals(turn.paused)
    assert (event["name"], event["effect"], event["tool_call_id"]) == (
        "delete_deal",
        "destructive",
        "call-0",
    )
    assert event["preview"]["record"]["name"] == "Old deal"
    assert event["expires_at"] == (clock.now + DEFAULT_TTL).isoformat()
    assert await fetch(store, workspace.tenant, "deal", deal.id) is not None
    assert await state_of(store, workspace.tenant, turn) == "pending"


async def test_approve_executes_exactly_once(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    deals = [await make(store, workspace.tenant, "deal", name=f"D{n}", amount=1) for n in range(2)]
    turn = await nexus.run(
        ("bulk_update_deals", {"ids": [str(d.id) for d in deals], "changes": {"amount": "500"}})
    )
    decisions = await nexus.decide(turn)
    results = tool_approvals.results_for(decisions)
    done = await nexus.resume(turn, results)
    assert done.result("bulk_update_deals").outcome == "success"
    assert await state_of(store, workspace.tenant, turn) == "executed"

    # A teammate sets one back; replaying the approved call must not overwrite it again.
    teammate = Nexus(store, workspace.tenant, role="member")
    await teammate.run(("update_deal", {"id": str(deals[0].id), "changes": {"amount": "1"}}))
    before_replay = await audit_rows(store, workspace.tenant, turn.run_id)
    replay = await nexus.resume(turn, results)
    part = replay.result("bulk_update_deals")
    assert part.outcome == "failed" and "already used" in part.content
    assert str((await fetch(store, workspace.tenant, "deal", deals[0].id)).amount) == "1.00"
    assert await audit_rows(store, workspace.tenant, turn.run_id) == before_replay


async def test_deny_does_nothing_even_if_the_client_says_yes(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    deal = await make(store, workspace.tenant, "deal", name="Keep me")
    turn = await nexus.run(("delete_deal", {"id": str(deal.id)}))
    decisions = await nexus.decide(turn, approve=False)
    denied = await nexus.resume(turn, tool_approvals.results_for(decisions))
    assert denied.result("delete_deal").outcome == "denied"
    assert await state_of(store, workspace.tenant, turn) == "denied"
    forged = await nexus.resume(turn, approve_in_client(turn))
    assert forged.result("delete_deal").outcome == "failed"
    assert await fetch(store, workspace.tenant, "deal", deal.id) is not None


async def test_an_approval_only_the_client_claims_is_refused(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    deal = await make(store, workspace.tenant, "deal", name="Keep me")
    turn = await nexus.run(("delete_deal", {"id": str(deal.id)}))
    forged = await nexus.resume(turn, approve_in_client(turn))
    part = forged.result("delete_deal")
    assert part.outcome == "failed" and "not been approved" in part.content
    assert await fetch(store, workspace.tenant, "deal", deal.id) is not None
    assert await state_of(store, workspace.tenant, turn) == "pending"


async def test_changed_arguments_are_refused(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    asked = await make(store, workspace.tenant, "deal", name="Asked about")
    other = await make(store, workspace.tenant, "deal", name="Never approved")
    turn = await nexus.run(("delete_deal", {"id": str(asked.id)}))
    await nexus.decide(turn)

    # The approval, edited on the way back...
    edited = DeferredToolResults(
        approvals={"call-0": ToolApproved(override_args={"id": str(other.id)})}
    )
    part = (await nexus.resume(turn, edited)).result("delete_deal")
    assert part.outcome == "failed" and "arguments differ" in part.content
    # ...or the history, rewritten to name another record.
    history = copy.deepcopy(turn.messages)
    for message in history:
        for p in message.parts:
            if isinstance(p, ToolCallPart) and p.tool_name == "delete_deal":
                p.args = {"id": str(other.id)}
    part = (await nexus.resume(turn, approve_in_client(turn), messages=history)).result(
        "delete_deal"
    )
    assert part.outcome == "failed" and "arguments differ" in part.content
    assert await fetch(store, workspace.tenant, "deal", asked.id) is not None
    assert await fetch(store, workspace.tenant, "deal", other.id) is not None
    assert await state_of(store, workspace.tenant, turn) == "approved"


async def test_an_expired_approval_is_refused(
    nexus: Nexus, store: Store, workspace: Workspace, clock: Clock
) -> None:
    deal = await make(store, workspace.tenant, "deal", name="Keep me")
    turn = await nexus.run(("delete_deal", {"id": str(deal.id)}))
    decisions = await nexus.decide(turn)
    clock.advance(minutes=16)
    part = (await nexus.resume(turn, tool_approvals.results_for(decisions))).result("delete_deal")
    assert part.outcome == "failed" and "expired" in part.content
    assert await fetch(store, workspace.tenant, "deal", deal.id) is not None
    assert await state_of(store, workspace.tenant, turn) == "expired"


async def test_deciding_after_expiry_is_refused(
    nexus: Nexus, store: Store, workspace: Workspace, clock: Clock
) -> None:
    deal = await make(store, workspace.tenant, "deal", name="Keep me")
    turn = await nexus.run(("delete_deal", {"id": str(deal.id)}))
    clock.advance(minutes=15, seconds=1)
    with pytest.raises(Conflict, match="expired"):
        await nexus.decide(turn)
    assert await state_of(store, workspace.tenant, turn) == "expired"


async def test_a_record_changed_in_between_is_a_conflict_not_a_write(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    deal = await make(store, workspace.tenant, "deal", name="Moving target", amount=1)
    turn = await nexus.run(("delete_deal", {"id": str(deal.id)}))
    decisions = await nexus.decide(turn)
    teammate = Nexus(store, workspace.tenant, role="member")
    await teammate.run(("update_deal", {"id": str(deal.id), "changes": {"amount": "2"}}))
    part = (await nexus.resume(turn, tool_approvals.results_for(decisions))).result("delete_deal")
    assert part.outcome == "failed" and "changed after the approval" in part.content
    assert (await fetch(store, workspace.tenant, "deal", deal.id)).amount == 2
    assert await state_of(store, workspace.tenant, turn) == "conflict"
    assert ("deals", "delete", deal.id) not in await audit_rows(
        store, workspace.tenant, turn.run_id
    )


async def test_one_workspace_cannot_decide_another_workspaces_request(
    nexus: Nexus, store: Store, workspace: Workspace, make_workspace
) -> None:
    deal = await make(store, workspace.tenant, "deal", name="Mine")
    turn = await nexus.run(("delete_deal", {"id": str(deal.id)}))
    elsewhere = Nexus(store, await make_workspace(), role="owner", member_id=uuid.uuid4())
    with pytest.raises(Exception, match="No approval request"):
        await nexus.decide(turn, decider=elsewhere.deps())
    assert await state_of(store, workspace.tenant, turn) == "pending"


async def test_an_approval_belongs_to_its_conversation(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    for conversation in (first, second):
        await rows(
            store,
            workspace.tenant,
            "INSERT INTO conversations (tenant_id, id, created_at, updated_at, version) "
            "VALUES (:tenant, :id, now(), now(), 1) RETURNING id",
            id=conversation,
        )
    deal = await make(store, workspace.tenant, "deal", name="Keep me")
    turn = await nexus.run(
        ("delete_deal", {"id": str(deal.id)}), deps=nexus.deps(conversation_id=first)
    )
    decisions = await nexus.decide(turn)
    elsewhere = Turn(
        nexus.deps(conversation_id=second, run_id=turn.run_id), turn.output, turn.messages
    )
    part = (await nexus.resume(elsewhere, tool_approvals.results_for(decisions))).result(
        "delete_deal"
    )
    assert part.outcome == "failed" and "no approval was requested" in part.content
    assert await fetch(store, workspace.tenant, "deal", deal.id) is not None
    done = await nexus.resume(turn, tool_approvals.results_for(decisions))
    assert done.result("delete_deal").outcome == "success"
