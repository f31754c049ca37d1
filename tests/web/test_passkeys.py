"""Passkeys, server side, with a software authenticator (tests/web/softauthn.py).

Each refusal is checked against a control: the same ceremony, done right, succeeds. So a test
cannot pass because the happy path is broken.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi import FastAPI

from tests import conftest
from tests.web.conftest import Browser, accept, enroll_platform_admin, new_workspace
from tests.web.softauthn import SoftAuthenticator

ORIGIN = "http://localhost:8000"


async def login_options(b: Browser) -> dict[str, Any]:
    response = await b.post("/api/auth/passkey/login/options", json={})
    assert response.status_code == 200, response.text
    return response.json()


async def verify_login(b: Browser, credential: dict[str, Any]) -> Any:
    return await b.post("/api/auth/passkey/login/verify", json={"credential": credential})


async def user_with_passkey(
    app: FastAPI, browser: Callable[[], Browser]
) -> tuple[SoftAuthenticator, str]:
    """A workspace owner who enrolled with a passkey through the invite (no password)."""
    _, owner, token = await new_workspace(app)
    b = browser()
    key = SoftAuthenticator(rp_id="localhost", origin=ORIGIN)
    options = await b.post("/api/auth/passkey/register/options", json={"invite_token": token})
    assert options.status_code == 200, options.text
    opts = options.json()
    assert opts["authenticatorSelection"]["userVerification"] == "required"
    assert opts["rp"]["id"] == "localhost"
    done = await b.post("/api/auth/passkey/register/verify", json={"credential": key.create(opts)})
    assert done.status_code == 200, done.text
    assert done.json()["role"] == "owner" and done.json()["auth_method"] == "passkey"
    return key, owner


async def test_invite_enrollment_then_sign_in(app: FastAPI, browser: Callable[[], Browser]) -> None:
    key, owner = await user_with_passkey(app, browser)
    b = browser()
    response = await verify_login(b, key.get(await login_options(b)))
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == owner
    assert (await b.get("/api/me")).json()["role"] == "owner"


async def test_a_replayed_assertion_is_refused(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    key, _ = await user_with_passkey(app, browser)
    b = browser()
    assertion = key.get(await login_options(b))
    assert (await verify_login(b, assertion)).status_code == 200
    replay = await verify_login(browser(), assertion)
    assert replay.status_code == 401
    assert "already used" in replay.json()["detail"]


async def test_a_failed_verification_still_uses_up_the_challenge(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    key, _ = await user_with_passkey(app, browser)
    b = browser()
    options = await login_options(b)
    bad = key.get(options, user_verified=False)
    assert (await verify_login(b, bad)).status_code == 401
    good_but_late = key.get(options)
    assert (await verify_login(b, good_but_late)).status_code == 401


async def test_wrong_origin_is_refused(app: FastAPI, browser: Callable[[], Browser]) -> None:
    key, _ = await user_with_passkey(app, browser)
    b = browser()
    response = await verify_login(
        b, key.get(await login_options(b), origin="http://localhost:9999")
    )
    assert response.status_code == 401
    assert (await verify_login(b, key.get(await login_options(b)))).status_code == 200


async def test_wrong_rp_id_is_refused(app: FastAPI, browser: Callable[[], Browser]) -> None:
    key, _ = await user_with_passkey(app, browser)
    b = browser()
    response = await verify_login(b, key.get(await login_options(b), rp_id="evil.example"))
    assert response.status_code == 401
    assert (await verify_login(b, key.get(await login_options(b)))).status_code == 200


async def test_missing_user_verification_is_refused(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    key, _ = await user_with_passkey(app, browser)
    b = browser()
    response = await verify_login(b, key.get(await login_options(b), user_verified=False))
    assert response.status_code == 401
    assert (await verify_login(b, key.get(await login_options(b)))).status_code == 200


async def test_registration_without_user_verification_is_refused(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    _, _, token = await new_workspace(app)
    b = browser()
    key = SoftAuthenticator(rp_id="localhost", origin=ORIGIN)
    opts = (await b.post("/api/auth/passkey/register/options", json={"invite_token": token})).json()
    refused = await b.post(
        "/api/auth/passkey/register/verify",
        json={"credential": key.create(opts, user_verified=False)},
    )
    assert refused.status_code == 401
    opts = (await b.post("/api/auth/passkey/register/options", json={"invite_token": token})).json()
    ok = await b.post("/api/auth/passkey/register/verify", json={"credential": key.create(opts)})
    assert ok.status_code == 200, "the invite survives a refused registration"


async def test_registration_with_wrong_origin_or_rp_id_is_refused(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    _, _, token = await new_workspace(app)
    b = browser()
    key = SoftAuthenticator(rp_id="localhost", origin=ORIGIN)
    for bad in ({"origin": "https://evil.example"}, {"rp_id": "evil.example"}):
        opts = (
            await b.post("/api/auth/passkey/register/options", json={"invite_token": token})
        ).json()
        response = await b.post(
            "/api/auth/passkey/register/verify", json={"credential": key.create(opts, **bad)}
        )
        assert response.status_code == 401, bad


async def test_a_registration_challenge_cannot_sign_in(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    key, _ = await user_with_passkey(app, browser)
    b = browser()
    b.client.cookies.clear()
    _, _, token = await new_workspace(app)
    reg = (await b.post("/api/auth/passkey/register/options", json={"invite_token": token})).json()
    response = await verify_login(b, key.get(reg))
    assert response.status_code == 401


async def test_an_expired_challenge_is_refused(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    key, _ = await user_with_passkey(app, browser)
    b = browser()
    start = datetime.now(UTC)
    app.state.clock = lambda: start
    options = await login_options(b)
    app.state.clock = lambda: start + timedelta(minutes=5, seconds=1)
    assert (await verify_login(b, key.get(options))).status_code == 401


async def test_sign_count_regression_is_refused_and_flagged(
    app: FastAPI, browser: Callable[[], Browser], test_db: conftest.TestDatabase
) -> None:
    key, _ = await user_with_passkey(app, browser)
    b = browser()
    assert (await verify_login(b, key.get(await login_options(b), sign_count=5))).status_code == 200
    cloned = await verify_login(b, key.get(await login_options(b), sign_count=5))
    assert cloned.status_code == 401 and "flagged" in cloned.json()["detail"]
    lower = await verify_login(b, key.get(await login_options(b), sign_count=3))
    assert lower.status_code == 401
    with psycopg.connect(test_db.superuser) as conn:
        row = conn.execute(
            "SELECT sign_count, flagged_at FROM passkeys WHERE credential_id = %s",
            (key.get({"challenge": "AA"})["id"],),
        ).fetchone()
    assert row is not None and row[0] == 5 and row[1] is not None
    assert (await verify_login(b, key.get(await login_options(b), sign_count=6))).status_code == 200


async def test_a_counter_that_stays_zero_is_accepted(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    """Synced passkeys report 0 every time; that is not a regression."""
    key, _ = await user_with_passkey(app, browser)
    b = browser()
    for _ in range(2):
        response = await verify_login(b, key.get(await login_options(b), sign_count=0))
        assert response.status_code == 200


async def test_users_add_list_and_remove_passkeys(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    _, _, token = await new_workspace(app)
    b = browser()
    assert (await accept(b, token)).status_code == 200  # a password account
    second = SoftAuthenticator(rp_id="localhost", origin=ORIGIN)
    opts = (await b.post("/api/auth/passkey/register/options", json={})).json()
    added = await b.post(
        "/api/auth/passkey/register/verify", json={"credential": second.create(opts)}
    )
    assert added.status_code == 200, added.text
    mine = (await b.get("/api/auth/passkeys")).json()
    assert [p["id"] for p in mine] == [added.json()["id"]]
    other = browser()
    assert (await verify_login(other, second.get(await login_options(other)))).status_code == 200
    removed = await b.request("DELETE", f"/api/auth/passkeys/{mine[0]['id']}")
    assert removed.status_code == 204
    assert (await verify_login(other, second.get(await login_options(other)))).status_code == 401


async def test_the_only_passkey_of_a_passwordless_account_stays(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    key, _ = await user_with_passkey(app, browser)
    b = browser()
    assert (await verify_login(b, key.get(await login_options(b)))).status_code == 200
    (only,) = (await b.get("/api/auth/passkeys")).json()
    response = await b.request("DELETE", f"/api/auth/passkeys/{only['id']}")
    assert response.status_code == 403


async def test_someone_elses_registration_challenge_is_refused(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    _, _, token_a = await new_workspace(app)
    _, _, token_b = await new_workspace(app)
    a, b = browser(), browser()
    assert (await accept(a, token_a)).status_code == 200
    assert (await accept(b, token_b)).status_code == 200
    opts = (await a.post("/api/auth/passkey/register/options", json={})).json()
    stolen = SoftAuthenticator(rp_id="localhost", origin=ORIGIN).create(opts)
    response = await b.post("/api/auth/passkey/register/verify", json={"credential": stolen})
    assert response.status_code == 403


async def test_platform_admin_signs_in_with_a_verified_passkey_session(
    app: FastAPI, browser: Callable[[], Browser], test_db: conftest.TestDatabase
) -> None:
    admin = browser()
    key = await enroll_platform_admin(app, admin)
    b = browser()
    response = await verify_login(b, key.get(await login_options(b)))
    assert response.status_code == 200
    me = response.json()
    assert me["user"]["platform_admin"] is True and me["workspace"] is None
    assert (await b.get("/api/platform/workspaces")).status_code == 200
    with psycopg.connect(test_db.superuser) as conn:
        row = conn.execute(
            "SELECT scope, auth_method, user_verified FROM sessions s JOIN identities i "
            "ON i.id = s.identity_id WHERE i.email = %s ORDER BY s.created_at DESC LIMIT 1",
            (me["user"]["email"],),
        ).fetchone()
    assert row == ("platform", "passkey", True)
    # No workspace records for platform admins.
    assert (await b.get("/api/v1/contacts")).status_code == 403


async def test_two_concurrent_submissions_of_one_assertion_yield_one_session(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    import asyncio

    key, _ = await user_with_passkey(app, browser)
    b = browser()
    assertion = key.get(await login_options(b))
    first, second = await asyncio.gather(
        verify_login(browser(), assertion), verify_login(browser(), assertion)
    )
    assert sorted([first.status_code, second.status_code]) == [200, 401]
