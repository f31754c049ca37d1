"""CSRF: every state-changing route, found by walking app.routes, refuses forged requests.

A cookie-authenticated POST/PUT/PATCH/DELETE needs the session's X-CSRF-Token AND our Origin
(or Referer). The unauthenticated sign-in routes need no token (there is no session yet) but
still refuse a foreign Origin (login CSRF). Bearer-token requests are exempt from both.
"""

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from tests.web.conftest import (
    PUBLIC_URL,
    Browser,
    MakeWorkspace,
    accept,
    concrete,
    http_routes,
    new_workspace,
)

STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
# Routes that authenticate nobody: they need the same origin, not a token.
SIGN_IN_ROUTES = {
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/invite/accept"),
    ("POST", "/api/auth/passkey/login/options"),
    ("POST", "/api/auth/passkey/login/verify"),
}
# Routes that never read the session cookie: a token (or Slack's signature) in the request is
# the only credential, and a forged cross-site request cannot carry one it does not know.
TOKEN_ONLY_ROUTES = {("POST", "/slack/api/{name}"), ("POST", "/slack/events")}
FOREIGN = "https://evil.example"


def state_changing_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [(m, p) for m, p in http_routes(app) if m in STATE_CHANGING]


def assert_refused(response: httpx.Response, why: str) -> None:
    assert response.status_code == 403, (why, response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error", "detail"} and body["error"] == "forbidden", body


async def test_the_walk_finds_the_routes(app: FastAPI) -> None:
    routes = state_changing_routes(app)
    assert ("POST", "/api/auth/logout") in routes
    assert ("PATCH", "/api/v1/contacts/{record_id}") in routes
    assert ("DELETE", "/api/v1/custom_fields/{field_id}") in routes
    assert ("POST", "/api/platform/workspaces/{workspace_id}/retire") in routes
    assert len(routes) > 50


async def test_every_cookie_authenticated_state_change_needs_token_and_origin(
    app: FastAPI, workspace: MakeWorkspace
) -> None:
    ws = await workspace(("owner",))
    owner = ws.browsers["owner"]
    checked = 0
    for method, path in state_changing_routes(app):
        if (method, path) in SIGN_IN_ROUTES | TOKEN_ONLY_ROUTES:
            continue
        url = concrete(path)
        no_token = await owner.client.request(method, url, json={}, headers={"Origin": PUBLIC_URL})
        assert_refused(no_token, f"{method} {path} without X-CSRF-Token")
        assert "X-CSRF-Token" in no_token.json()["detail"]
        wrong_token = await owner.client.request(
            method, url, json={}, headers={"Origin": PUBLIC_URL, "X-CSRF-Token": "0" * 64}
        )
        assert_refused(wrong_token, f"{method} {path} with a wrong token")
        foreign = await owner.client.request(
            method, url, json={}, headers={"Origin": FOREIGN, "X-CSRF-Token": owner.csrf or ""}
        )
        assert_refused(foreign, f"{method} {path} from a foreign origin")
        foreign_referer = await owner.client.request(
            method,
            url,
            json={},
            headers={"Referer": f"{FOREIGN}/page", "X-CSRF-Token": owner.csrf or ""},
        )
        assert_refused(foreign_referer, f"{method} {path} with a foreign Referer")
        no_origin = await owner.client.request(
            method, url, json={}, headers={"X-CSRF-Token": owner.csrf or ""}
        )
        assert_refused(no_origin, f"{method} {path} with neither Origin nor Referer")
        checked += 1
    assert checked > 50
    # The session survived all that (no forged logout got through).
    assert (await owner.get("/api/me")).status_code == 200


async def test_the_slack_api_ignores_the_session_cookie(
    app: FastAPI, workspace: MakeWorkspace
) -> None:
    ws = await workspace(("owner",))
    owner = ws.browsers["owner"]
    same_site = await owner.client.post(
        "/slack/api/conversations.create",
        data={"name": "forged"},
        headers={"Origin": PUBLIC_URL, "X-CSRF-Token": owner.csrf or ""},
    )
    assert same_site.json() == {"ok": False, "error": "not_authed"}  # the cookie counts for nothing
    cross_site = await owner.client.post(
        "/slack/api/conversations.create", data={"name": "forged"}, headers={"Origin": FOREIGN}
    )
    assert cross_site.status_code == 403  # and the app-wide origin check stops it first


@pytest.mark.parametrize(("method", "path"), sorted(SIGN_IN_ROUTES))
async def test_sign_in_routes_need_no_token_but_our_origin(
    app: FastAPI, browser: Callable[[], Browser], method: str, path: str
) -> None:
    b = browser()
    foreign = await b.client.request(method, path, json={}, headers={"Origin": FOREIGN})
    assert_refused(foreign, f"{method} {path} from a foreign origin")
    same = await b.client.request(method, path, json={}, headers={"Origin": PUBLIC_URL})
    assert same.status_code != 403, same.text


async def test_login_csrf_from_a_foreign_page_is_refused(
    app: FastAPI, browser: Callable[[], Browser]
) -> None:
    _, owner, token = await new_workspace(app)
    assert (await accept(browser(), token)).status_code == 200
    victim = browser()
    forged = await victim.client.post(
        "/api/auth/login",
        json={"email": owner, "password": "correct horse battery staple"},
        headers={"Origin": FOREIGN},
    )
    assert_refused(forged, "login from a foreign origin")
    assert "set-cookie" not in forged.headers


async def test_bearer_requests_are_exempt(
    app: FastAPI, workspace: MakeWorkspace, browser: Callable[[], Browser]
) -> None:
    ws = await workspace(("owner",))
    made = await ws.browsers["owner"].post("/api/tokens", json={"name": "script"})
    assert made.status_code == 201, made.text
    program = browser()  # no cookie, no CSRF token, a foreign Origin: only the bearer token
    response = await program.client.post(
        "/api/v1/companies",
        json={"name": "Acme"},
        headers={"Authorization": f"Bearer {made.json()['token']}", "Origin": FOREIGN},
    )
    assert response.status_code == 201, response.text


async def test_a_valid_request_passes(app: FastAPI, workspace: MakeWorkspace) -> None:
    """The positive control: token and origin right, the write goes through."""
    ws = await workspace(("owner",))
    response = await ws.browsers["owner"].post("/api/v1/companies", json={"name": "Acme"})
    assert response.status_code == 201, response.text
