"""Custom fields belong to their workspace: they shape that workspace's tool schemas, typed and
validated, and no other workspace's."""

from typing import Any

from store.runtime import Store
from store.services import custom_fields
from tests.conftest import MakeWorkspace
from tests.tools.conftest import Workspace
from tests.tools.support import TEST_ACTOR, Nexus, audit_rows, rows
from tools.toolset import FULL_SCHEMA, catalog, load_schema

FIELDS = [
    {
        "entity": "deal",
        "key": "renewal_month",
        "label": "Renewal month",
        "type": "select",
        "options": ["June", "December"],
    },
    {"entity": "deal", "key": "seats", "label": "Seats", "type": "number"},
    {"entity": "contact", "key": "linkedin", "label": "LinkedIn", "type": "url"},
]


async def define(store: Store, tenant: Any) -> None:
    async with store.tenant_session(tenant, TEST_ACTOR, role="admin") as ts:
        for field in FIELDS:
            await custom_fields.define_field(ts, **field)


def schemas(found: list[dict[str, Any]]) -> dict[str, Any]:
    return {t["name"]: t["parameters"] for t in found}


async def test_custom_fields_change_only_their_workspaces_schemas(
    nexus: Nexus, store: Store, workspace: Workspace, make_workspace: MakeWorkspace
) -> None:
    other = Nexus(store, await make_workspace(), role="owner")
    await define(store, workspace.tenant)
    mine = schemas(catalog(await load_schema(nexus.deps())))
    theirs = schemas(catalog(await load_schema(other.deps())))
    plain = schemas(catalog(FULL_SCHEMA))

    custom = mine["create_deal"]["$defs"]["DealCustomFields"]["properties"]
    assert custom["renewal_month"]["anyOf"][0]["enum"] == ["June", "December"]
    assert [t.get("type") for t in custom["seats"]["anyOf"]] == ["integer", "number", "null"]
    assert "custom" not in theirs["create_deal"]["properties"]
    changed = {name for name in mine if mine[name] != plain.get(name)}
    assert changed == {
        "create_deal",
        "update_deal",
        "bulk_update_deals",
        "create_contact",
        "update_contact",
        "bulk_update_contacts",
    }
    # The other workspace sees the catalog as documented (it has no integration either).
    assert theirs == {k: v for k, v in plain.items() if k != "call_integration"}


async def test_custom_values_are_typed_and_select_options_enforced(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    await define(store, workspace.tenant)
    bad_option = await nexus.run(
        ("create_deal", {"name": "A", "custom": {"renewal_month": "July"}})
    )
    bad_number = await nexus.run(("create_deal", {"name": "B", "custom": {"seats": "many"}}))
    unknown = await nexus.run(("create_deal", {"name": "C", "custom": {"colour": "red"}}))
    for turn in (bad_option, bad_number, unknown):
        assert turn.result("create_deal").outcome == "retried"
        assert await audit_rows(store, workspace.tenant, turn.run_id) == set()
    assert (
        await rows(store, workspace.tenant, "SELECT id FROM deals WHERE tenant_id = :tenant") == []
    )

    good = await nexus.run(
        ("create_deal", {"name": "D", "custom": {"renewal_month": "December", "seats": 12}}),
        ("create_contact", {"first_name": "Li", "custom": {"linkedin": "https://in.example/li"}}),
    )
    assert good.data("create_deal")["custom"] == {"renewal_month": "December", "seats": "12"}
    contact = good.data("create_contact")
    changed = await nexus.run(
        ("update_contact", {"id": contact["id"], "changes": {"custom": {"linkedin": "not a url"}}})
    )
    assert changed.result("update_contact").outcome == "retried"


async def test_another_workspace_cannot_use_them(
    store: Store, workspace: Workspace, make_workspace: MakeWorkspace
) -> None:
    await define(store, workspace.tenant)
    other = Nexus(store, await make_workspace(), role="owner")
    turn = await other.run(("create_deal", {"name": "X", "custom": {"renewal_month": "June"}}))
    assert turn.result("create_deal").outcome == "retried"
    assert await rows(store, other.tenant, "SELECT id FROM deals WHERE tenant_id = :tenant") == []
