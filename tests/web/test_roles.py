"""Roles: one table over every /api route and every kind of caller.

Callers: a workspace's owner, admin, member and viewer, a platform admin (passkey session), and
an anonymous browser. Each /api route found by walking app.routes must have a row in `RULES`
(a new route without one fails the test), and each caller must be let through (any answer but
401/403) or refused with exactly 401 (anonymous) or 403 (signed in, not allowed).
"""

from collections.abc import Callable
from typing import Literal

from fastapi import FastAPI

from store.entities import ENTITIES
from tests.web.conftest import (
    Browser,
    MakeWorkspace,
    concrete,
    enroll_platform_admin,
    http_routes,
)

Rule = Literal["public", "signed_in", "viewer", "member", "admin", "owner", "platform"]
CALLERS = ("owner", "admin", "member", "viewer", "platform", "anonymous")
RANK = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}

RULES: dict[tuple[str, str], Rule] = {
    ("PUT", "/api/slack/install"): "admin",
    ("GET", "/api/slack/install"): "admin",
    ("DELETE", "/api/slack/install"): "admin",
    ("PUT", "/api/slack/users/{slack_user_id}"): "admin",
    ("DELETE", "/api/slack/users/{slack_user_id}"): "admin",
    ("POST", "/api/auth/login"): "public",
    ("POST", "/api/auth/logout"): "public",
    ("POST", "/api/auth/invite/accept"): "public",
    ("POST", "/api/auth/passkey/login/options"): "public",
    ("POST", "/api/auth/passkey/login/verify"): "public",
    # Registration is decided by the challenge (a session's or an invite's) at verify time.
    ("POST", "/api/auth/passkey/register/verify"): "public",
    ("POST", "/api/auth/passkey/register/options"): "signed_in",
    ("GET", "/api/auth/passkeys"): "signed_in",
    ("DELETE", "/api/auth/passkeys/{passkey_id}"): "signed_in",
    ("GET", "/api/me"): "signed_in",
    ("GET", "/api/members"): "viewer",
    ("POST", "/api/members"): "admin",
    ("PATCH", "/api/members/{member_id}"): "admin",
    ("DELETE", "/api/members/{member_id}"): "admin",
    ("GET", "/api/tokens"): "viewer",
    ("POST", "/api/tokens"): "viewer",
    ("DELETE", "/api/tokens/{token_id}"): "viewer",
    ("GET", "/api/v1/custom_fields"): "viewer",
    ("POST", "/api/v1/custom_fields"): "admin",
    ("DELETE", "/api/v1/custom_fields/{field_id}"): "admin",
    # Nexus chat (web/routes/chat.py): every member may chat; tools are filtered by role.
    ("POST", "/api/chat/conversations"): "viewer",
    ("GET", "/api/chat/conversations/{conversation_id}"): "viewer",
    ("POST", "/api/chat/conversations/{conversation_id}/messages"): "viewer",
    ("POST", "/api/chat/conversations/{conversation_id}/approvals"): "viewer",
    ("GET", "/api/chat/conversations/{conversation_id}/runs/{run_id}/events"): "viewer",
    ("GET", "/api/trust"): "viewer",
    # The audit trail and GDPR requests (web/routes/audit.py, gdpr.py): admins and owners.
    ("GET", "/api/audit"): "admin",
    ("GET", "/api/audit/verify"): "admin",
    ("GET", "/api/audit/export"): "admin",
    ("GET", "/api/v1/contacts/{contact_id}/export"): "admin",
    ("POST", "/api/v1/contacts/{contact_id}/erase"): "admin",
    ("GET", "/api/platform/workspaces"): "platform",
    ("POST", "/api/platform/workspaces"): "platform",
    ("POST", "/api/platform/workspaces/{workspace_id}/retire"): "platform",
}
for _e in ENTITIES:
    RULES[("GET", f"/api/v1/{_e.plural}")] = "viewer"
    RULES[("POST", f"/api/v1/{_e.plural}")] = "member"
    RULES[("GET", f"/api/v1/{_e.plural}/{{record_id}}")] = "viewer"
    RULES[("PATCH", f"/api/v1/{_e.plural}/{{record_id}}")] = "member"
    RULES[("DELETE", f"/api/v1/{_e.plural}/{{record_id}}")] = "member"


def expected(rule: Rule, caller: str) -> str:
    """'ok', '401' or '403'."""
    if rule == "public":
        return "ok"
    if caller == "anonymous":
        return "401"
    if rule == "signed_in":
        return "ok"
    if rule == "platform":
        return "ok" if caller == "platform" else "403"
    if caller == "platform":
        return "403"
    return "ok" if RANK[caller] >= RANK[rule] else "403"


def body_for(method: str, path: str) -> dict[str, object] | None:
    if method in ("GET", "DELETE"):
        return None
    if path.startswith("/api/members/"):
        return {"role": "viewer"}
    # Empty bodies: an allowed caller gets 2xx/4xx-but-not-401/403, a refused one 401/403.
    return {}


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [(m, p) for m, p in http_routes(app) if p.startswith("/api/")]


async def test_every_api_route_has_a_rule(app: FastAPI) -> None:
    routes = set(api_routes(app))
    assert routes - set(RULES) == set(), "routes without a role rule"
    assert set(RULES) - routes == set(), "rules for routes that do not exist"


async def test_every_route_for_every_caller(
    app: FastAPI, workspace: MakeWorkspace, browser: Callable[[], Browser]
) -> None:
    ws = await workspace()
    callers: dict[str, Browser] = dict(ws.browsers)
    callers["platform"] = browser()
    await enroll_platform_admin(app, callers["platform"])
    callers["anonymous"] = browser()
    wrong: list[str] = []
    for method, path in api_routes(app):
        if (method, path) == ("POST", "/api/auth/logout"):
            continue  # would end the callers' sessions; covered by test_sessions
        rule = RULES[(method, path)]
        for caller in CALLERS:
            response = await callers[caller].request(
                method, concrete(path), json=body_for(method, path)
            )
            got = str(response.status_code) if response.status_code in (401, 403) else "ok"
            want = expected(rule, caller)
            if got != want:
                wrong.append(f"{caller:9} {method} {path}: {response.status_code} (want {want})")
            if response.status_code in (401, 403):
                assert set(response.json()) == {"error", "detail"}
    assert wrong == []
    # The callers are who the table thinks they are.
    for role in ("owner", "admin", "member", "viewer"):
        assert (await callers[role].get("/api/me")).json()["role"] == role


async def test_a_role_change_applies_to_the_next_request(
    app: FastAPI, workspace: MakeWorkspace
) -> None:
    ws = await workspace(("owner", "member"))
    member = ws.browsers["member"]
    assert (await member.post("/api/v1/companies", json={"name": "A"})).status_code == 201
    member_id = (await member.get("/api/me")).json()["member_id"]
    demoted = await ws.browsers["owner"].request(
        "PATCH", f"/api/members/{member_id}", json={"role": "viewer"}
    )
    assert demoted.status_code == 200, demoted.text
    assert (await member.post("/api/v1/companies", json={"name": "B"})).status_code == 403
    assert (await member.get("/api/v1/companies")).status_code == 200
    removed = await ws.browsers["owner"].request("DELETE", f"/api/members/{member_id}")
    assert removed.status_code == 200
    gone = await member.get("/api/v1/companies")
    assert gone.status_code == 403 and "member" in gone.json()["detail"]


async def test_owners_are_protected(app: FastAPI, workspace: MakeWorkspace) -> None:
    ws = await workspace(("owner", "admin"))
    owner_id = (await ws.browsers["owner"].get("/api/me")).json()["member_id"]
    admin = ws.browsers["admin"]
    assert (await admin.request("DELETE", f"/api/members/{owner_id}")).status_code == 403
    promote = await admin.post("/api/members", json={"email": "x@example.com", "role": "owner"})
    assert promote.status_code == 403
    last = await ws.browsers["owner"].request(
        "PATCH", f"/api/members/{owner_id}", json={"role": "admin"}
    )
    assert last.status_code == 403 and "at least one owner" in last.json()["detail"]


async def test_membership_changes_are_in_the_workspace_audit_trail(
    app: FastAPI, workspace: MakeWorkspace, test_db: object
) -> None:
    import psycopg

    ws = await workspace(("owner", "viewer"))
    owner = ws.browsers["owner"]
    me = (await owner.get("/api/me")).json()
    viewer_id = (await ws.browsers["viewer"].get("/api/me")).json()["member_id"]
    assert (
        await owner.request("PATCH", f"/api/members/{viewer_id}", json={"role": "member"})
    ).status_code == 200
    with psycopg.connect(test_db.superuser) as conn:  # pyright: ignore[reportAttributeAccessIssue]
        rows = conn.execute(
            "SELECT actor, action, before->>'role', after->>'role' FROM audit_events "
            "WHERE tenant_id = %s AND table_name = 'members' AND record_id = %s ORDER BY seq",
            (ws.tenant_id, viewer_id),
        ).fetchall()
    assert rows[-1] == (f"member:{me['member_id']}", "update", "viewer", "member")
    assert rows[0][1] == "insert"
