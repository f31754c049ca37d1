"""The tool catalog as a contract: its exact shape, what no schema may contain, effects and roles.

The golden file `catalog_snapshot.json` holds every tool's name, effect, minimum role, entity,
deferral, description and JSON schema. A change to any of them fails here until it is accepted
deliberately: `FLOWGRID_UPDATE_TOOL_SNAPSHOT=1 pytest tests/tools/test_catalog.py` rewrites it,
and the diff goes through review like code.
"""

import ast
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from store.entities import ENTITIES
from tools.catalog import CORE_TOOLS
from tools.toolset import ALL_TOOLS, FULL_SCHEMA, catalog

SNAPSHOT = Path(__file__).with_name("catalog_snapshot.json")
UPDATE_ENV = "FLOWGRID_UPDATE_TOOL_SNAPSHOT"
# Who is asking and where: never something a model may say (AGT-01).
IDENTITY_FIELDS = {
    "tenant",
    "tenant_id",
    "workspace",
    "workspace_id",
    "actor",
    "actor_id",
    "role",
    "user",
    "user_id",
    "member_id",
    "via",
}
DESTRUCTIVE_NAMES = re.compile(r"^(delete_|erase_|merge_|bulk_)|^undo_agent_turn$")
NETWORK_MODULES = {"httpx", "httpx2", "requests", "aiohttp", "urllib", "socket", "http", "ssl"}
TOOLS_DIR = Path(__file__).resolve().parents[2] / "tools"


def _catalog() -> list[dict[str, Any]]:
    return json.loads(json.dumps(catalog(FULL_SCHEMA)))


def test_catalog_matches_the_golden_snapshot() -> None:
    current = _catalog()
    rendered = json.dumps(current, indent=1, sort_keys=True) + "\n"
    if os.environ.get(UPDATE_ENV) == "1":
        SNAPSHOT.write_text(rendered)
    assert SNAPSHOT.exists(), f"no snapshot yet: run with {UPDATE_ENV}=1"
    expected = json.loads(SNAPSHOT.read_text())
    assert [t["name"] for t in current] == [t["name"] for t in expected]
    for now, then in zip(current, expected, strict=True):
        assert now == then, f"{now['name']} changed; accept it with {UPDATE_ENV}=1"


def test_there_are_sixty_or_more_distinctly_named_tools() -> None:
    names = [t["name"] for t in _catalog()]
    assert len(names) >= 60
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"[a-z][a-z_]{2,63}", name), name


def test_generated_tools_use_english_plurals() -> None:
    names = {t["name"] for t in _catalog()}
    for entity in ENTITIES:
        for name in (
            f"create_{entity.name}",
            f"get_{entity.name}",
            f"search_{entity.plural}",
            f"update_{entity.name}",
            f"delete_{entity.name}",
        ):
            assert name in names
    assert {"search_companies", "search_activities", "search_line_items"} <= names


def _property_names(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                yield from value
            yield from _property_names(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _property_names(item)


def test_no_schema_lets_the_model_name_a_workspace_an_actor_or_a_role() -> None:
    for tool in _catalog():
        found = set(_property_names(tool["parameters"])) & IDENTITY_FIELDS
        assert not found, f"{tool['name']} takes {found}"
        assert tool["parameters"].get("additionalProperties") is False, tool["name"]


def test_every_delete_erase_merge_and_bulk_tool_is_destructive_and_only_those() -> None:
    for tool in _catalog():
        named_destructive = bool(DESTRUCTIVE_NAMES.search(tool["name"]))
        assert (tool["effect"] == "destructive") == named_destructive, tool["name"]


def test_only_call_integration_is_egress() -> None:
    egress = [t["name"] for t in _catalog() if t["effect"] == "egress"]
    assert egress == ["call_integration"]


def test_only_the_egress_module_imports_a_network_client() -> None:
    """No tool module but tools/egress.py can reach the network (it holds call_integration)."""
    importers = {}
    for path in sorted(TOOLS_DIR.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                if name.split(".")[0] in NETWORK_MODULES:
                    importers.setdefault(path.name, set()).add(name)
    assert set(importers) == {"egress.py"}, importers
    egress_tools = [t.spec.name for t in ALL_TOOLS if t.spec.effect == "egress"]
    assert egress_tools == ["call_integration"]


def test_roles_follow_the_effects() -> None:
    admin_only = {"define_custom_field", "erase_contact", "export_contact"}
    for tool in _catalog():
        if tool["name"] in admin_only:
            assert tool["min_role"] == "admin", tool["name"]
        elif tool["effect"] == "read" and tool["name"] != "list_integrations":
            assert tool["min_role"] == "viewer", tool["name"]
        else:
            assert tool["min_role"] == "member", tool["name"]


def test_core_tools_exist_and_the_rest_is_deferred() -> None:
    tools = {t["name"]: t for t in _catalog()}
    assert set(CORE_TOOLS) <= set(tools)
    for name, tool in tools.items():
        assert tool["deferred"] == (name not in CORE_TOOLS), name
    assert len(CORE_TOOLS) <= 25


def test_every_tool_and_parameter_is_described() -> None:
    for tool in _catalog():
        assert tool["description"] and len(tool["description"]) >= 20, tool["name"]
        for name, prop in tool["parameters"].get("properties", {}).items():
            assert prop.get("description"), f"{tool['name']}.{name} has no description"


@pytest.mark.parametrize("name", sorted(CORE_TOOLS))
def test_core_tool_descriptions_fit_in_a_glance(name: str) -> None:
    tool = next(t for t in _catalog() if t["name"] == name)
    assert len(tool["description"]) <= 400
