"""Passwords: Argon2id at the pinned parameters, rehash, uniform failures, throttling, invites."""

import base64
import re
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi import FastAPI

from store.auth import passwords, throttle
from tests import conftest
from tests.web.conftest import PASSWORD, Browser, accept, invite, new_workspace

PHC = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$")


def stored_hash(test_db: conftest.TestDatabase, email: str) -> str:
    with psycopg.connect(test_db.superuser) as conn:
        row = conn.execute("SELECT password_hash FROM identities WHERE email = %s", (email,))
        return row.fetchone()[0]  # pyright: ignore[reportOptionalSubscript]


def set_hash(test_db: conftest.TestDatabase, email: str, value: str) -> None:
    with psycopg.connect(test_db.superuser) as conn:
        conn.execute("UPDATE identities SET password_hash = %s WHERE email = %s", (value, email))


def b64_len(text: str) -> int:
    return len(base64.b64decode(text + "=" * (-len(text) % 4)))


async def owner_with_password(app: FastAPI, browser: Callable[[], Browser]) -> tuple[str, Browser]:
    _, owner, token = await new_workspace(app)
    b = browser()
    assert (await accept(b, token)).status_code == 200
    return owner, b


async def test_hash_is_argon2id_with_pinned_parameters_and_per_user_salts(
    app: FastAPI, browser: Callable[[], Browser], test_db: conftest.TestDatabase
) -> None:
    first, _ = await owner_with_password(app, browser)
    second, _ = await owner_with_password(app, browser)
    a, b = stored_hash(test_db, first), stored_hash(test_db, second)
    assert a.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    match = PHC.match(a)
    assert match is not None
    assert b64_len(match.group(4)) == 16, "16-byte salt"
    assert b64_len(match.group(5)) == 32, "32-byte tag"
    assert a != b, "the same password hashes differently for two people (per-user salt)"


async def test_login_rehashes_a_hash_made_with_weaker_parameters(
    app: FastAPI, browser: Callable[[], Browser], test_db: conftest.TestDatabase
) -> None:
    email, _ = await owner_with_password(app, browser)
    weak = passwords.make_hasher(time_cost=1, memory_cost=19456, parallelism=1).hash(PASSWORD)
    set_hash(test_db, email, weak)
    assert passwords.needs_rehash(weak)

    response = await browser().login(email)

    assert response.status_code == 200, response.text
    upgraded = stored_hash(test_db, email)
    assert upgraded != weak
    assert upgraded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert (await browser().login(email)).status_code == 200, "the new hash verifies"
    assert stored_hash(test_db, email) == upgraded, "no rehash when the parameters are current"


async def test_unknown_user_and_wrong_password_get_byte_identical_answers(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    email, _ = await owner_with_password(app, browser)
    wrong = await browser().login(email, "not the right password")
    unknown = await browser().login("nobody-at-all@example.com", "not the right password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.content == unknown.content
    assert wrong.json() == {"error": "unauthenticated", "detail": "Email or password is incorrect."}
    skip = {"date", "x-request-id"}
    assert {k: v for k, v in wrong.headers.items() if k not in skip} == {
        k: v for k, v in unknown.headers.items() if k not in skip
    }
    assert "set-cookie" not in wrong.headers


async def test_unknown_user_costs_as_much_as_a_wrong_password(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    """The dummy-hash verification: both paths pay one Argon2id check (~100 ms here)."""
    email, _ = await owner_with_password(app, browser)

    async def timed(who: str) -> float:
        start = time.perf_counter()
        await browser().login(who, "not the right password")
        return time.perf_counter() - start

    known = [await timed(email) for _ in range(5)]
    unknown = [await timed(f"ghost-{i}@example.com") for i in range(5)]
    fast, slow = sorted((statistics.median(known), statistics.median(unknown)))
    assert fast > 0.03, "a failed login must include a real Argon2 verification"
    assert slow / fast < 1.5, (known, unknown)


async def test_platform_admin_cannot_sign_in_with_a_password(
    app: FastAPI, browser: Callable[[], Browser], test_db: conftest.TestDatabase
) -> None:
    from store.auth import signin

    email = "staff-pw@flowgrid.test"
    await signin.invite_platform_admin(app.state.store, email, datetime.now(UTC))
    # Even a hash planted directly is refused: by the database's check constraint...
    with pytest.raises(psycopg.errors.CheckViolation):
        set_hash(test_db, email, passwords.hash_password(PASSWORD))
    # ...and the login answer is the generic one.
    response = await browser().login(email)
    assert response.status_code == 401
    assert response.json()["detail"] == "Email or password is incorrect."


async def test_repeated_failures_on_one_account_are_throttled_with_retry_after(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    email, _ = await owner_with_password(app, browser)
    for _ in range(throttle.ACCOUNT_LIMIT):
        # A new browser (client address) each time: the account counter alone must stop it.
        assert (await browser().login(email, "wrong password!")).status_code == 401
    blocked = await browser().login(email)  # even the right password, while throttled
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "too_many_attempts"
    retry_after = int(blocked.headers["retry-after"])
    assert 0 < retry_after <= throttle.WINDOW.total_seconds() + 1


async def test_unknown_accounts_are_throttled_alike(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    """Throttling must not tell registered emails from others."""
    for _ in range(throttle.ACCOUNT_LIMIT):
        await browser().login("ghost-throttle@example.com", "wrong password!")
    assert (await browser().login("ghost-throttle@example.com", "x" * 12)).status_code == 429


async def test_repeated_failures_from_one_address_are_throttled(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    b = browser()
    for i in range(throttle.ADDRESS_LIMIT):
        assert (await b.login(f"spray-{i}@example.com", "wrong password!")).status_code == 401
    response = await b.login("spray-last@example.com", "wrong password!")
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0


async def test_a_success_clears_the_account_counter(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    email, _ = await owner_with_password(app, browser)
    for _ in range(throttle.ACCOUNT_LIMIT - 1):
        await browser().login(email, "wrong password!")
    assert (await browser().login(email)).status_code == 200
    for _ in range(throttle.ACCOUNT_LIMIT - 1):
        await browser().login(email, "wrong password!")
    assert (await browser().login(email)).status_code == 200


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short1!", "at least 10"),
        ("password123", "most common"),
        ("qwertyuiop", "most common"),
        ("1234567890", "most common"),
    ],
)
async def test_password_rules(
    app: FastAPI, browser: Callable[[], Browser], password: str, why: str
) -> None:
    _, _, token = await new_workspace(app)
    response = await accept(browser(), token, password)
    assert response.status_code == 422
    assert why in response.json()["detail"]


async def test_password_equal_to_the_email_is_refused(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    _, owner, token = await new_workspace(app)
    response = await accept(browser(), token, owner)
    assert response.status_code == 422 and "email" in response.json()["detail"]


async def test_an_invite_works_once(app: FastAPI, browser: Callable[[], Browser]) -> None:
    _, _, token = await new_workspace(app)
    assert (await accept(browser(), token)).status_code == 200
    again = await accept(browser(), token, "another long passphrase")
    assert again.status_code == 401
    assert again.json() == {
        "error": "unauthenticated",
        "detail": "This invite link is unknown, expired or already used.",
    }


async def test_an_expired_invite_is_refused(app: FastAPI, browser: Callable[[], Browser]) -> None:
    tenant_id, _, _ = await new_workspace(app)
    _, token = await invite(app, tenant_id, "member", now=datetime.now(UTC) - timedelta(days=8))
    response = await accept(browser(), token)
    assert response.status_code == 401 and "expired" in response.json()["detail"]


async def test_an_invite_does_not_replace_existing_credentials(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    """A leaked invite to a second workspace must not let its holder set the account password."""
    email, _ = await owner_with_password(app, browser)
    other_tenant, _, _ = await new_workspace(app)
    async with app.state.store.tenant_session(other_tenant, "system:test", via="cli") as ts:
        from store.services import membership

        invited = await membership.invite_member(ts, email, "member", datetime.now(UTC))
    response = await accept(browser(), invited.invite_token, "an attacker's password")
    assert response.status_code == 409
    assert (await browser().login(email)).status_code == 200
    assert (await browser().login(email, "an attacker's password")).status_code == 401
