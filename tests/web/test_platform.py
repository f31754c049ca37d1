"""The platform console: passkey-only staff, workspaces and keys, and access transparency."""

import re
from collections.abc import Callable

import psycopg
from fastapi import FastAPI

from tests import conftest
from tests.web.conftest import Browser, MakeWorkspace, enroll_platform_admin


def trail(test_db: conftest.TestDatabase, tenant_id: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(test_db.superuser) as conn:
        return conn.execute(
            "SELECT actor, action, table_name FROM audit_events WHERE tenant_id = %s ORDER BY seq",
            (tenant_id,),
        ).fetchall()


async def test_create_list_and_retire_leave_platform_actor_rows_in_the_trail(
    app: FastAPI, browser: Callable[[], Browser], test_db: conftest.TestDatabase
) -> None:
    admin = browser()
    await enroll_platform_admin(app, admin)
    actor = f"platform:{admin.me['user']['id']}"  # pyright: ignore[reportOptionalSubscript]
    created = await admin.post(
        "/api/platform/workspaces", json={"name": "Globex", "owner_email": "hank@globex.test"}
    )
    assert created.status_code == 201, created.text
    ws = created.json()
    assert ws["invite_url"].startswith("http://localhost:8000/login?invite=")
    listed = (await admin.get("/api/platform/workspaces")).json()
    row = next(w for w in listed if w["id"] == ws["id"])
    assert row["status"] == "active" and row["key_state"] == "enabled"
    assert set(row) == {
        "id",
        "name",
        "status",
        "key_provider",
        "key_state",
        "created_at",
        "retired_at",
    }, "workspace metadata only, never records"
    events = trail(test_db, ws["id"])
    assert (actor, "insert", "members") in events
    assert (actor, "insert", "platform_events") in events

    wrong = await admin.post(
        f"/api/platform/workspaces/{ws['id']}/retire", json={"confirm_name": "globex"}
    )
    assert wrong.status_code == 422
    assert (
        next(
            w for w in (await admin.get("/api/platform/workspaces")).json() if w["id"] == ws["id"]
        )["status"]
        == "active"
    )
    retired = await admin.post(
        f"/api/platform/workspaces/{ws['id']}/retire", json={"confirm_name": "Globex"}
    )
    assert retired.status_code == 200, retired.text
    assert retired.json()["key_state"] != "enabled"
    after = trail(test_db, ws["id"])
    assert after[-1] == (actor, "insert", "platform_events")
    with psycopg.connect(test_db.superuser) as conn:
        (action,) = conn.execute(
            "SELECT after->>'action' FROM audit_events WHERE tenant_id = %s ORDER BY seq DESC "
            "LIMIT 1",
            (ws["id"],),
        ).fetchone()  # pyright: ignore[reportGeneralTypeIssues]
    assert action == "workspace.key_retired"
    row = next(
        w for w in (await admin.get("/api/platform/workspaces")).json() if w["id"] == ws["id"]
    )
    assert row["status"] == "retired"


async def test_console_needs_a_passkey_session(
    app: FastAPI,
    browser: Callable[[], Browser],
    workspace: MakeWorkspace,
    test_db: conftest.TestDatabase,
) -> None:
    ws = await workspace(("owner",))
    assert (await ws.browsers["owner"].get("/api/platform/workspaces")).status_code == 403
    assert (await browser().get("/api/platform/workspaces")).status_code == 401
    admin = browser()
    await enroll_platform_admin(app, admin)
    assert (await admin.get("/api/platform/workspaces")).status_code == 200
    # A platform session that did not come from a verified passkey is not enough (AUTH-01).
    with psycopg.connect(test_db.superuser) as conn:
        conn.execute(
            "UPDATE sessions SET user_verified = false WHERE identity_id = %s",
            (admin.me["user"]["id"],),  # pyright: ignore[reportOptionalSubscript]
        )
    assert (await admin.get("/api/platform/workspaces")).status_code == 403


async def test_admin_invite_refuses_workspace_accounts(
    app: FastAPI, workspace: MakeWorkspace
) -> None:
    from datetime import UTC, datetime

    import pytest

    from store.auth import signin
    from store.errors import Conflict

    ws = await workspace(("owner",))
    with pytest.raises(Conflict):
        await signin.invite_platform_admin(app.state.store, ws.emails["owner"], datetime.now(UTC))


async def test_pages_have_a_strict_csp_and_no_inline_code(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    b = browser()
    for path in ("/login", "/platform"):
        page = await b.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        html = page.text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
        assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
        assert " style=" not in html and "<style" not in html
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            assert (await b.get(asset)).status_code == 200, asset
    assert "passkey" in (await b.get("/platform")).text.lower()
    assert "password" not in (await b.get("/platform")).text.lower()
