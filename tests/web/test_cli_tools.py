"""`flowgrid tools list`, run as a process: the documented catalog, and one workspace's own."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from store.crypto.providers import LocalKeyProvider
from store.runtime import Store
from store.services import custom_fields, tenants
from tests.conftest import TestDatabase

FLOWGRID = str(Path(sys.executable).with_name("flowgrid"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLOWGRID, "tools", "list", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_lists_every_tool_with_effect_role_and_entity() -> None:
    result = run("--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    tools = {t["name"]: t for t in document["tools"]}
    assert document["count"] == len(tools) >= 60
    assert tools["delete_contact"] == {
        "name": "delete_contact",
        "effect": "destructive",
        "min_role": "member",
        "entity": "contact",
        "deferred": True,
    }
    assert tools["call_integration"]["effect"] == "egress"
    table = run()
    assert table.returncode == 0 and "search_companies" in table.stdout


def test_with_a_tenant_it_shows_that_workspaces_custom_fields(
    test_db: TestDatabase, tmp_path: Path
) -> None:
    async def prepare() -> str:
        store = Store(test_db.urls, LocalKeyProvider(tmp_path / "keys"), pool_size=1)
        try:
            created = await tenants.create_workspace(
                store, name="CLI tools", owner_email="cli-tools@example.com", actor="system:test"
            )
            async with store.tenant_session(created.tenant_id, "system:test", role="admin") as ts:
                await custom_fields.define_field(
                    ts, entity="deal", key="seats", label="Seats", type="number"
                )
            return str(created.tenant_id)
        finally:
            await store.close()

    tenant = asyncio.run(prepare())
    env = {
        "DATABASE_URL": test_db.urls.owner,
        "FLOWGRID_APP_DATABASE_URL": test_db.urls.app,
        "FLOWGRID_DATA_DIR": str(tmp_path),
    }
    result = run("--json", "--tenant", tenant, env=env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    tools = {t["name"]: t for t in document["tools"]}
    assert tools["create_deal"]["custom_fields"] == ["seats"]
    assert tools["create_contact"]["custom_fields"] == []
    assert "call_integration" not in tools  # no integration in this workspace
    assert document["custom_fields"]["deal"][0]["key"] == "seats"

    unknown = run("--tenant", "00000000-0000-4000-8000-000000000000", env=env)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
