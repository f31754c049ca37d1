"""Sessions: cookie flags, hashed ids, rotation, logout, idle and absolute timeouts."""

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import psycopg
from fastapi import FastAPI

from store.auth.sessions import SessionPolicy
from tests import conftest
from tests.web.conftest import Browser, accept, build_app, new_workspace


def session_cookie(response: httpx.Response) -> SimpleCookie:
    jar = SimpleCookie()
    jar.load(response.headers["set-cookie"])
    assert len(jar) == 1, "exactly one cookie is set"
    return jar


async def signed_in(app: FastAPI, browser: Callable[[], Browser]) -> tuple[Browser, str]:
    _, owner, token = await new_workspace(app)
    b = browser()
    assert (await accept(b, token)).status_code == 200
    return b, owner


def sql(test_db: conftest.TestDatabase, statement: str, *params: object) -> None:
    with psycopg.connect(test_db.superuser) as conn:
        conn.execute(statement, params)  # pyright: ignore[reportArgumentType]


async def test_cookie_is_httponly_lax_host_only_and_not_secure_on_http(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    _, owner, token = await new_workspace(app)
    response = await accept(browser(), token)
    jar = session_cookie(response)
    morsel = jar["fg_session"]
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/"
    assert morsel["domain"] == ""
    assert not morsel["secure"]
    assert len(morsel.value) >= 43, "at least 256 bits, base64url"
    assert owner


async def test_cookie_is_secure_with_host_prefix_on_https(
    test_db: conftest.TestDatabase, tmp_path: Path
) -> None:
    app = build_app(test_db, tmp_path, public_url="https://crm.example.test")
    async with app.router.lifespan_context(app):
        _, _, token = await new_workspace(app)
        b = Browser(app, origin="https://crm.example.test")
        response = await accept(b, token)
        assert response.status_code == 200, response.text
        jar = session_cookie(response)
        morsel = jar["__Host-fg_session"]
        assert morsel["secure"] is True and morsel["httponly"] is True
        assert morsel["path"] == "/" and morsel["domain"] == ""
        # The https origin is also the only one state changes may come from.
        assert (await b.get("/api/me")).status_code == 200
        await b.aclose()


async def test_only_the_digest_of_the_session_id_is_stored(
    app: FastAPI, browser: Callable[[], Browser], test_db: conftest.TestDatabase
) -> None:
    b, _ = await signed_in(app, browser)
    value = b.client.cookies["fg_session"]
    with psycopg.connect(test_db.superuser) as conn:
        dump = conn.execute("SELECT row_to_json(s)::text FROM sessions s").fetchall()
    text = "\n".join(r[0] for r in dump)
    assert value not in text
    assert hashlib.sha256(value.encode()).hexdigest() in text


async def test_login_rotates_the_session_and_the_old_one_is_dead(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    b, owner = await signed_in(app, browser)
    before = b.client.cookies["fg_session"]
    old_csrf = b.csrf
    assert (await b.login(owner)).status_code == 200
    after = b.client.cookies["fg_session"]
    assert after != before and b.csrf != old_csrf
    replay = browser()
    replay.client.cookies.set("fg_session", before)
    response = await replay.get("/api/me")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"


async def test_logout_invalidates_the_session_on_the_server(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    b, _ = await signed_in(app, browser)
    stolen = b.client.cookies["fg_session"]
    response = await b.post("/api/auth/logout")
    assert response.status_code == 204
    assert (
        'fg_session=""' in response.headers["set-cookie"]
        or "Max-Age=0" in response.headers["set-cookie"]
    )
    replay = browser()
    replay.client.cookies.set("fg_session", stolen)
    assert (await replay.get("/api/me")).status_code == 401


async def test_idle_timeout_in_the_database(
    app: FastAPI, browser: Callable[[], Browser], test_db: conftest.TestDatabase
) -> None:
    b, _ = await signed_in(app, browser)
    assert (await b.get("/api/me")).status_code == 200
    digest = hashlib.sha256(b.client.cookies["fg_session"].encode()).hexdigest()
    sql(
        test_db,
        "UPDATE sessions SET idle_expires_at = now() - interval '1 second' WHERE token_hash = %s",
        digest,
    )
    assert (await b.get("/api/me")).status_code == 401


async def test_absolute_timeout_in_the_database(
    app: FastAPI, browser: Callable[[], Browser], test_db: conftest.TestDatabase
) -> None:
    b, _ = await signed_in(app, browser)
    digest = hashlib.sha256(b.client.cookies["fg_session"].encode()).hexdigest()
    sql(
        test_db,
        "UPDATE sessions SET expires_at = now() - interval '1 second', "
        "idle_expires_at = now() + interval '1 hour' WHERE token_hash = %s",
        digest,
    )
    assert (await b.get("/api/me")).status_code == 401


async def test_activity_extends_the_idle_timeout_but_not_the_absolute_one(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    """With the app's clock moved forward: a request every 11 h keeps a session for 7 days."""
    policy = SessionPolicy()
    start = datetime.now(UTC)
    b, _ = await signed_in(app, browser)
    app.state.clock = lambda: start + policy.idle + timedelta(minutes=1)
    assert (await b.get("/api/me")).status_code == 401, "idle for longer than the idle timeout"

    b, _ = await signed_in(app, browser)  # signs in at the moved clock
    begun = app.state.clock()
    at = begun
    while at + timedelta(hours=11) < begun + policy.absolute:
        at += timedelta(hours=11)
        app.state.clock = lambda at=at: at
        assert (await b.get("/api/me")).status_code == 200, at - begun
    app.state.clock = lambda: begun + policy.absolute + timedelta(seconds=1)
    assert (await b.get("/api/me")).status_code == 401, "the absolute timeout holds"


async def test_csrf_token_of_one_session_is_refused_in_another(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    a, _ = await signed_in(app, browser)
    b, _ = await signed_in(app, browser)
    response = await b.post(
        "/api/v1/contacts", json={"first_name": "X"}, headers={"X-CSRF-Token": a.csrf or ""}
    )
    assert response.status_code == 403
    ok = await b.post("/api/v1/contacts", json={"first_name": "X"})
    assert ok.status_code == 201, ok.text


async def test_me_returns_user_workspace_role_and_csrf(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    b, owner = await signed_in(app, browser)
    me = (await b.get("/api/me")).json()
    assert me["user"]["email"] == owner
    assert me["role"] == "owner"
    assert me["workspace"]["name"].startswith("WS ")
    assert me["csrf_token"] == b.csrf
    assert (await browser().get("/api/me")).status_code == 401
