"""How calls fail and what comes back: mapped errors, no crashed runs, bounded data."""

import json
from typing import Any

from pydantic_ai import FunctionToolset

from agent.nexus import build_agent
from store.runtime import Store
from store.services import tenants
from tests.conftest import MakeWorkspace
from tests.tools.conftest import Workspace
from tests.tools.support import Nexus, fetch, make
from tools.execution import ToolCall
from tools.registry import domain_tool
from tools.results import MAX_BYTES, MAX_TEXT, NOTE, as_data
from tools.toolset import FULL_SCHEMA, build_toolset


@domain_tool(entity=None, effect="read")
async def explode(call: ToolCall) -> Any:
    """A tool whose body fails in a way nobody planned for (a bug, a driver error)."""
    raise RuntimeError("connection string postgresql://app:hunter2@db/flowgrid")


async def test_an_unexpected_error_is_a_failed_result_not_a_crashed_run(
    store: Store, workspace: Workspace
) -> None:
    agent = build_agent(toolsets=[FunctionToolset([explode.build(FULL_SCHEMA)])])
    turn = await Nexus(store, workspace.tenant).run(("explode", {}), agent=agent)
    part = turn.result("explode")
    assert part.outcome == "failed"
    assert "reference" in part.content and "hunter2" not in part.content
    assert turn.output == "done"


async def test_domain_errors_come_back_as_retries_with_the_services_message(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    deal = await make(store, workspace.tenant, "deal", name="Versioned")
    turn = await nexus.run(
        ("get_deal", {"id": "00000000-0000-4000-8000-000000000000"}),
        ("update_deal", {"id": str(deal.id), "expected_version": 7, "changes": {"amount": "1"}}),
        ("search_deals", {"cursor": "garbage"}),
    )
    assert turn.result("get_deal").outcome == "retried"
    assert "No deal with id" in str(turn.result("get_deal").content)
    assert "changed since version 7" in str(turn.result("update_deal").content)
    assert "cursor" in str(turn.result("search_deals").content)


async def test_a_retired_workspace_refuses_every_call(
    store: Store, make_workspace: MakeWorkspace
) -> None:
    tenant = await make_workspace()
    await tenants.retire_workspace(store, tenant)
    agent = build_agent(toolsets=[build_toolset(FULL_SCHEMA, "owner")])
    turn = await Nexus(store, tenant).run(("search_contacts", {}), agent=agent)
    part = turn.result("search_contacts")
    assert part.outcome == "failed" and "retired" in part.content


async def test_long_texts_are_cut_and_marked(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    contact = await make(store, workspace.tenant, "contact", first_name="Long", notes="x" * 9000)
    turn = await nexus.run(("get_contact", {"id": str(contact.id)}))
    notes = turn.data("get_contact")["notes"]
    assert notes.startswith("x" * MAX_TEXT) and notes.endswith("[7000 more characters]")


def test_results_are_wrapped_as_untrusted_data_and_bounded() -> None:
    rows = [{"id": n, "notes": "y" * 1500, "empty": None} for n in range(100)]
    envelope = as_data({"items": rows, "next_cursor": None})
    assert envelope["note"] == NOTE and envelope["truncated"] is True
    assert len(json.dumps(envelope["data"]).encode()) <= MAX_BYTES
    items = envelope["data"]["items"]
    assert items[0] == {"id": 0, "notes": "y" * 1500}
    assert items[-1].endswith("more not shown")
    small = as_data({"a": 1, "b": None, "c": []})
    assert small == {"data": {"a": 1, "c": []}, "note": NOTE}


async def test_another_workspaces_ids_look_exactly_like_missing_ones(
    nexus: Nexus, store: Store, workspace: Workspace, make_workspace: MakeWorkspace
) -> None:
    """AGT-03: a lure id from another workspace gets the answer a random id gets."""
    other = await make_workspace()
    theirs = await make(store, other, "contact", first_name="Victim")
    random_id = "00000000-0000-4000-8000-000000000001"
    turn = await nexus.run(
        ("get_contact", {"id": str(theirs.id)}),
        ("get_contact", {"id": random_id}),
        ("update_contact", {"id": str(theirs.id), "changes": {"first_name": "Owned"}}),
    )
    lure, missing, update = turn.returns()
    assert lure.content == missing.content.replace(random_id, str(theirs.id))
    assert update.outcome == "retried"
    assert (await fetch(store, other, "contact", theirs.id)).first_name == "Victim"
