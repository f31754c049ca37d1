"""A run gets the tools its caller's role allows, and the executor checks the role again."""

import pytest

from agent.nexus import build_agent
from store.runtime import Store
from tests.tools.conftest import Workspace
from tests.tools.support import Nexus, audit_rows, rows
from tools.toolset import FULL_SCHEMA, build_toolset, catalog

ALL = {t["name"]: t for t in catalog(FULL_SCHEMA)}
ADMIN_TOOLS = {name for name, t in ALL.items() if t["min_role"] == "admin"}


def offered(role: str) -> set[str]:
    toolset = build_toolset(FULL_SCHEMA, role)  # type: ignore[arg-type]
    return set(toolset.tools)


def test_viewers_get_reads_only() -> None:
    names = offered("viewer")
    assert names and all(ALL[n]["effect"] == "read" for n in names)
    assert names == {n for n, t in ALL.items() if t["min_role"] == "viewer"}


def test_members_get_everything_but_the_admin_tools() -> None:
    assert {"define_custom_field", "erase_contact", "export_contact"} == ADMIN_TOOLS
    assert offered("member") == set(ALL) - ADMIN_TOOLS


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_admins_and_owners_get_all(role: str) -> None:
    assert offered(role) == set(ALL)


async def test_a_viewer_naming_a_write_tool_gets_nothing_done(
    store: Store, workspace: Workspace
) -> None:
    viewer = Nexus(store, workspace.tenant, role="viewer")
    turn = await viewer.run(("create_contact", {"first_name": "Mallory"}), search=False)
    assert turn.result("create_contact").outcome == "retried"  # not a tool of this run
    assert "create_contact" not in turn.seen_tools[0]
    assert (
        await rows(store, workspace.tenant, "SELECT id FROM contacts WHERE tenant_id = :tenant")
        == []
    )
    assert await audit_rows(store, workspace.tenant, turn.run_id) == set()


async def test_the_executor_refuses_a_tool_above_the_callers_role(
    store: Store, workspace: Workspace
) -> None:
    """Even a toolset built for an owner does nothing for a viewer (or a member's admin call)."""
    owner_tools = build_agent(toolsets=[build_toolset(FULL_SCHEMA, "owner")])
    viewer = Nexus(store, workspace.tenant, role="viewer")
    turn = await viewer.run(("create_contact", {"first_name": "Mallory"}), agent=owner_tools)
    part = turn.result("create_contact")
    assert part.outcome == "failed" and "needs the member role" in part.content
    member = Nexus(store, workspace.tenant, role="member")
    turn2 = await member.run(
        ("define_custom_field", {"entity": "deal", "key": "x", "label": "X"}), agent=owner_tools
    )
    assert turn2.result("define_custom_field").outcome == "failed"
    assert (
        await rows(store, workspace.tenant, "SELECT id FROM contacts WHERE tenant_id = :tenant")
        == []
    )
    assert (
        await rows(
            store,
            workspace.tenant,
            "SELECT id FROM custom_field_definitions WHERE tenant_id = :tenant",
        )
        == []
    )
    assert await audit_rows(store, workspace.tenant, turn.run_id) == set()
    assert await audit_rows(store, workspace.tenant, turn2.run_id) == set()


async def test_a_viewer_can_read(store: Store, workspace: Workspace) -> None:
    viewer = Nexus(store, workspace.tenant, role="viewer")
    turn = await viewer.run(("list_pipelines", {}), ("search_deals", {}))
    assert turn.data("list_pipelines")[0]["name"] == "Sales"
    assert turn.data("search_deals") == {"items": []}
