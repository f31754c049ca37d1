"""API tokens: hashed at rest, role-scoped, revocable, last use recorded, actor `token:<id>`."""

import hashlib
from collections.abc import Callable

import psycopg
from fastapi import FastAPI

from tests import conftest
from tests.web.conftest import Browser, MakeWorkspace


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make_token(b: Browser, **body: object) -> dict[str, object]:
    response = await b.post("/api/tokens", json={"name": "script", **body})
    assert response.status_code == 201, response.text
    return response.json()


async def test_token_is_shown_once_and_stored_as_a_digest(
    app: FastAPI, workspace: MakeWorkspace, test_db: conftest.TestDatabase
) -> None:
    ws = await workspace(("owner",))
    made = await make_token(ws.browsers["owner"])
    token = str(made["token"])
    prefix, tenant_hex, id_hex, secret = token[:3], token[3:35], token[36:68], token[69:]
    assert prefix == "fg_" and len(secret) == 43 and token[35] == token[68] == "_"
    assert tenant_hex == ws.tenant_id.hex
    with psycopg.connect(test_db.superuser) as conn:
        rows = conn.execute("SELECT row_to_json(t)::text FROM api_tokens t").fetchall()
    dump = "\n".join(r[0] for r in rows)
    assert secret not in dump and token not in dump
    assert hashlib.sha256(secret.encode()).hexdigest() in dump
    listed = (await ws.browsers["owner"].get("/api/tokens")).json()
    assert all("token" not in t for t in listed) and listed[0]["id"].replace("-", "") == id_hex


async def test_token_acts_for_its_member_and_is_recorded_as_the_actor(
    app: FastAPI,
    workspace: MakeWorkspace,
    browser: Callable[[], Browser],
    test_db: conftest.TestDatabase,
) -> None:
    ws = await workspace(("owner",))
    made = await make_token(ws.browsers["owner"])
    program = browser()
    me = await program.get("/api/me", headers=bearer(str(made["token"])))
    assert me.status_code == 200
    assert me.json()["role"] == "owner" and me.json()["csrf_token"] is None
    created = await program.post(
        "/api/v1/companies", json={"name": "Acme"}, headers=bearer(str(made["token"]))
    )
    assert created.status_code == 201
    with psycopg.connect(test_db.superuser) as conn:
        actor, via = conn.execute(
            "SELECT actor, via FROM audit_events WHERE tenant_id = %s AND record_id = %s",
            (ws.tenant_id, created.json()["id"]),
        ).fetchone()  # pyright: ignore[reportGeneralTypeIssues]
    assert actor == f"token:{made['id']}" and via == "api"


async def test_token_role_caps_what_it_may_do(
    app: FastAPI, workspace: MakeWorkspace, browser: Callable[[], Browser]
) -> None:
    ws = await workspace(("owner", "member"))
    viewer_token = str((await make_token(ws.browsers["owner"], role="viewer"))["token"])
    program = browser()
    assert (await program.get("/api/v1/companies", headers=bearer(viewer_token))).status_code == 200
    write = await program.post(
        "/api/v1/companies", json={"name": "X"}, headers=bearer(viewer_token)
    )
    assert write.status_code == 403
    # A member cannot mint a token above their own role.
    above = await ws.browsers["member"].post("/api/tokens", json={"name": "x", "role": "admin"})
    assert above.status_code == 422


async def test_member_role_caps_the_token_too(
    app: FastAPI, workspace: MakeWorkspace, browser: Callable[[], Browser]
) -> None:
    ws = await workspace(("owner", "admin"))
    admin_token = str((await make_token(ws.browsers["admin"]))["token"])
    program = browser()
    define = {"entity": "contact", "key": "tier", "label": "Tier", "type": "text"}
    ok = await program.post("/api/v1/custom_fields", json=define, headers=bearer(admin_token))
    assert ok.status_code == 201, ok.text
    admin_id = (await ws.browsers["admin"].get("/api/me")).json()["member_id"]
    await ws.browsers["owner"].request("PATCH", f"/api/members/{admin_id}", json={"role": "member"})
    define["key"] = "tier2"
    capped = await program.post("/api/v1/custom_fields", json=define, headers=bearer(admin_token))
    assert capped.status_code == 403, "the token's admin role no longer applies"


async def test_revoked_tokens_stop_working(
    app: FastAPI, workspace: MakeWorkspace, browser: Callable[[], Browser]
) -> None:
    ws = await workspace(("owner",))
    made = await make_token(ws.browsers["owner"])
    program = browser()
    assert (await program.get("/api/me", headers=bearer(str(made["token"])))).status_code == 200
    revoked = await ws.browsers["owner"].request("DELETE", f"/api/tokens/{made['id']}")
    assert revoked.status_code == 204
    after = await program.get("/api/me", headers=bearer(str(made["token"])))
    assert after.status_code == 401 and after.json()["error"] == "unauthenticated"


async def test_last_used_at_is_updated(
    app: FastAPI, workspace: MakeWorkspace, browser: Callable[[], Browser]
) -> None:
    ws = await workspace(("owner",))
    made = await make_token(ws.browsers["owner"])
    assert (await ws.browsers["owner"].get("/api/tokens")).json()[0]["last_used_at"] is None
    await browser().get("/api/v1/contacts", headers=bearer(str(made["token"])))
    used = (await ws.browsers["owner"].get("/api/tokens")).json()[0]["last_used_at"]
    assert used is not None


async def test_a_wrong_secret_or_malformed_token_is_refused_alike(
    app: FastAPI, workspace: MakeWorkspace, browser: Callable[[], Browser]
) -> None:
    ws = await workspace(("owner",))
    token = str((await make_token(ws.browsers["owner"]))["token"])
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    program = browser()
    answers = [
        await program.get("/api/me", headers=bearer(t))
        for t in (tampered, "fg_nonsense", "fgb_" + token[3:])
    ]
    assert {a.status_code for a in answers} == {401}
    assert len({a.content for a in answers}) == 1


async def test_tokens_cannot_mint_tokens(
    app: FastAPI, workspace: MakeWorkspace, browser: Callable[[], Browser]
) -> None:
    ws = await workspace(("owner",))
    token = str((await make_token(ws.browsers["owner"]))["token"])
    response = await browser().post("/api/tokens", json={"name": "child"}, headers=bearer(token))
    assert response.status_code == 403


async def test_removing_a_member_ends_their_tokens(
    app: FastAPI, workspace: MakeWorkspace, browser: Callable[[], Browser]
) -> None:
    ws = await workspace(("owner", "member"))
    token = str((await make_token(ws.browsers["member"]))["token"])
    member_id = (await ws.browsers["member"].get("/api/me")).json()["member_id"]
    assert (
        await ws.browsers["owner"].request("DELETE", f"/api/members/{member_id}")
    ).status_code == 200
    assert (await browser().get("/api/me", headers=bearer(token))).status_code == 401


async def test_a_token_is_found_only_inside_its_own_workspace(
    app: FastAPI,
    workspace: MakeWorkspace,
    browser: Callable[[], Browser],
    test_db: conftest.TestDatabase,
) -> None:
    """Tokens live under RLS: pointing a token at another workspace finds nothing, and the app
    role, scoped to one workspace, cannot see another's tokens at all."""
    mine, theirs = await workspace(("owner",)), await workspace(("owner",))
    token = str((await make_token(mine.browsers["owner"]))["token"])
    await make_token(theirs.browsers["owner"])
    elsewhere = token.replace(mine.tenant_id.hex, theirs.tenant_id.hex, 1)
    nowhere = token.replace(mine.tenant_id.hex, "0" * 32, 1)
    program = browser()
    assert (await program.get("/api/me", headers=bearer(token))).status_code == 200
    refused = [await program.get("/api/me", headers=bearer(t)) for t in (elsewhere, nowhere)]
    assert [r.status_code for r in refused] == [401, 401]
    assert refused[0].content == refused[1].content

    with psycopg.connect(test_db.app) as conn:  # the role the web process uses
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(mine.tenant_id),))
        visible = conn.execute("SELECT DISTINCT tenant_id FROM api_tokens").fetchall()
    assert visible == [(mine.tenant_id,)]


async def test_only_admins_mint_bot_tokens(app: FastAPI, workspace: MakeWorkspace) -> None:
    """A bot token speaks as Nexus in the channels: a member must not be able to make one."""
    ws = await workspace(("member", "admin"))
    refused = await ws.browsers["member"].post("/api/tokens", json={"name": "b", "kind": "bot"})
    assert refused.status_code == 403 and "bot" in refused.json()["detail"]
    made = await ws.browsers["admin"].post("/api/tokens", json={"name": "b", "kind": "bot"})
    assert made.status_code == 201 and made.json()["token"].startswith("fgb_")
    api = await ws.browsers["member"].post("/api/tokens", json={"name": "a"})
    assert api.status_code == 201
