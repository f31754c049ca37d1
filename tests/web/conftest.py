"""Fixtures for the HTTP tests: the real app (its lifespan run) on the test database.

Requests go through `httpx.AsyncClient(transport=httpx.ASGITransport(app))`, so every middleware,
dependency, error handler and database round trip is the production code path. `Browser` plays
a browser: it keeps cookies, sends our Origin, and sends the CSRF token once it has one. Each
browser gets its own client address, so per-address throttling in one test never leaks into
another.
"""

import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from store.runtime import Store
from store.services import membership, tenants
from store.settings import StoreSettings
from tests.conftest import TestDatabase
from web.app import create_app
from web.settings import WebSettings

PUBLIC_URL = "http://localhost:8000"
PASSWORD = "correct horse battery staple"


def build_app(test_db: TestDatabase, data_dir: Path, public_url: str = PUBLIC_URL) -> FastAPI:
    return create_app(
        urls=test_db.urls,
        store_settings=StoreSettings(data_dir=data_dir),
        web_settings=WebSettings(public_url=public_url),
    )


@pytest.fixture
async def app(test_db: TestDatabase, tmp_path: Path) -> AsyncIterator[FastAPI]:
    application = build_app(test_db, tmp_path)
    async with application.router.lifespan_context(application):
        yield application


def app_store(app: FastAPI) -> Store:
    return app.state.store


class Browser:
    """An httpx client that behaves like a same-origin page of FlowGrid."""

    def __init__(self, app: FastAPI, *, origin: str = PUBLIC_URL) -> None:
        # 64 random bits from the IPv6 documentation prefix: two browsers sharing an address
        # would share a throttle counter (a 1-in-250 pick from 192.0.2.0/24 made CI flaky).
        host = "2001:db8::" + ":".join(secrets.token_hex(2) for _ in range(4))
        port = secrets.randbelow(60000) + 1024
        self.origin = origin
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(host, port)),
            base_url=origin,
        )
        self.csrf: str | None = None
        self.me: dict[str, Any] | None = None

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Origin": self.origin, **kwargs.pop("headers", {})}
        if self.csrf and method not in ("GET", "HEAD"):
            headers.setdefault("X-CSRF-Token", self.csrf)
        response = await self.client.request(method, path, headers=headers, **kwargs)
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else None
        )
        if isinstance(body, dict) and "csrf_token" in body and body.get("user"):
            self.csrf, self.me = body["csrf_token"], body
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return await self.post("/api/auth/login", json={"email": email, "password": password})

    async def aclose(self) -> None:
        await self.client.aclose()


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[Callable[[], Browser]]:
    made: list[Browser] = []

    def make() -> Browser:
        made.append(Browser(app))
        return made[-1]

    yield make
    for b in made:
        await b.aclose()


@dataclass
class Workspace:
    """A workspace with one signed-in browser per role."""

    tenant_id: uuid.UUID
    name: str
    emails: dict[str, str]
    browsers: dict[str, Browser]


async def new_workspace(app: FastAPI, *, name: str | None = None) -> tuple[uuid.UUID, str, str]:
    """A workspace made the way the CLI makes one: returns (id, owner email, invite token)."""
    owner = f"owner-{secrets.token_hex(4)}@example.com"
    created = await tenants.create_workspace(
        app_store(app),
        name=name or f"WS {secrets.token_hex(3)}",
        owner_email=owner,
        actor="system:test",
    )
    return created.tenant_id, owner, created.invite_token


async def invite(app: FastAPI, tenant_id: uuid.UUID, role: str, now: Any = None) -> tuple[str, str]:
    """Invite a person with a role (as the system, like a CLI); returns (email, token)."""
    from datetime import UTC, datetime

    email = f"{role}-{secrets.token_hex(4)}@example.com"
    async with app_store(app).tenant_session(tenant_id, "system:test", via="cli") as ts:
        invited = await membership.invite_member(ts, email, role, now or datetime.now(UTC))
    return email, invited.invite_token


async def accept(b: Browser, token: str, password: str = PASSWORD) -> httpx.Response:
    return await b.post("/api/auth/invite/accept", json={"token": token, "password": password})


MakeWorkspace = Callable[..., Awaitable[Workspace]]


@pytest.fixture
async def workspace(app: FastAPI, browser: Callable[[], Browser]) -> MakeWorkspace:
    """Make a workspace whose owner, admin, member and viewer are each signed in."""

    async def make(roles: tuple[str, ...] = ("owner", "admin", "member", "viewer")) -> Workspace:
        tenant_id, owner, token = await new_workspace(app)
        emails, browsers = {}, {}
        for role in roles:
            if role == "owner":
                email, role_token = owner, token
            else:
                email, role_token = await invite(app, tenant_id, role)
            b = browser()
            response = await accept(b, role_token)
            assert response.status_code == 200, response.text
            emails[role], browsers[role] = email, b
        return Workspace(tenant_id, "", emails, browsers)

    return make


def http_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, including routes of included routers."""
    from starlette.routing import Mount, Route

    found: list[tuple[str, str]] = []

    def walk(routes: list[Any]) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(list(inner.routes))
            elif isinstance(route, Route):
                found.extend((m, route.path) for m in sorted(route.methods or ()) if m != "HEAD")
            elif not isinstance(route, Mount):
                raise AssertionError(f"unexpected route type {type(route).__name__}")

    walk(list(app.routes))
    return sorted(set(found))


def concrete(path: str) -> str:
    """A path with a random UUID for each path parameter."""
    import re

    return re.sub(r"\{[a-z_]+\}", lambda _: str(uuid.uuid4()), path)


async def enroll_platform_admin(app: FastAPI, b: Browser) -> Any:
    """Make a platform admin through `admin invite` + passkey enrollment; `b` ends signed in."""
    from datetime import UTC, datetime

    from store.auth import signin
    from tests.web.softauthn import SoftAuthenticator

    email = f"staff-{secrets.token_hex(4)}@flowgrid.test"
    token, _ = await signin.invite_platform_admin(app_store(app), email, datetime.now(UTC))
    key = SoftAuthenticator(rp_id="localhost", origin=b.origin)
    options = await b.post("/api/auth/passkey/register/options", json={"invite_token": token})
    assert options.status_code == 200, options.text
    done = await b.post(
        "/api/auth/passkey/register/verify", json={"credential": key.create(options.json())}
    )
    assert done.status_code == 200, done.text
    assert done.json()["user"]["platform_admin"] is True
    return key
