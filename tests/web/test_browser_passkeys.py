"""Passkeys in a real browser: Debian's Chromium, driven by Playwright, with a CDP virtual
authenticator (ctap2, internal, resident keys, user verification), against the real pages
served by uvicorn on 127.0.0.1 with FLOWGRID_PUBLIC_URL=http://localhost:PORT (an IP address
cannot be an RP ID; localhost over http is a secure context, so WebAuthn works without TLS).

Screenshots go to artifacts/ (gitignored). These tests skip, loudly, when /usr/bin/chromium or
the playwright package is missing; `.ci/run` installs both. Never `playwright install`: it
downloads a browser build, which this environment cannot.
"""

import asyncio
import importlib.util
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from store.auth import signin
from store.crypto.providers import LocalKeyProvider
from store.runtime import Store
from store.services import tenants
from store.settings import StoreSettings
from tests import conftest
from web.app import create_app
from web.settings import WebSettings

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() or importlib.util.find_spec("playwright") is None,
        reason="BROWSER TESTS SKIPPED: need /usr/bin/chromium (apt-get install chromium) and the "
        "playwright package (pip install -e '.[dev]'); see .ci/run",
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LiveServer:
    """uvicorn serving the app in a thread, and a way to run store work beside it."""

    def __init__(self, test_db: conftest.TestDatabase, data_dir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://localhost:{self.port}"
        self.settings = StoreSettings(data_dir=data_dir)
        app = create_app(
            urls=test_db.urls,
            store_settings=self.settings,
            web_settings=WebSettings(public_url=self.url),
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.test_db = test_db

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def run(self, work: Any) -> Any:
        """Run `work(store)` on a store of the same database and keystore, in its own loop."""

        async def go() -> Any:
            store = Store(
                self.test_db.urls,
                LocalKeyProvider(self.settings.keystore_dir, database_dir=self.settings.pg_dir),
                pool_size=1,
            )
            try:
                return await work(store)
            finally:
                await store.close()

        # Playwright's sync API keeps an event loop running in this thread; use another one.
        result: list[Any] = []
        worker = threading.Thread(target=lambda: result.append(asyncio.run(go())))
        worker.start()
        worker.join(timeout=60)
        return result[0]


@pytest.fixture
def live(test_db: conftest.TestDatabase, tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer(test_db, tmp_path) as server:
        yield server


@pytest.fixture
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page_with_authenticator(chromium: Any) -> tuple[Any, Any, str]:
    """A page whose browser has one virtual platform authenticator with user verification."""
    context = chromium.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )["authenticatorId"]
    return page, cdp, authenticator


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def visible(page: Any, selector: str) -> None:
    page.wait_for_selector(selector, state="visible", timeout=15_000)


def test_workspace_user_registers_and_signs_in_with_a_passkey(
    live: LiveServer, chromium: Any
) -> None:
    owner = f"owner-{secrets.token_hex(4)}@example.com"
    created = live.run(
        lambda store: tenants.create_workspace(
            store, name="Browser Co", owner_email=owner, actor="system:test"
        )
    )
    page, cdp, authenticator = new_page_with_authenticator(chromium)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{live.url}/login?invite={created.invite_token}")
    visible(page, "#invite")
    assert page.text_content("#invite-email") == owner
    assert "invite=" not in page.url, "the one-time token is taken out of the address bar"
    shot(page, "login-invite")
    page.click("#invite-passkey")
    visible(page, "#account")
    assert page.text_content("#me-email") == owner
    assert page.text_content("#me-role") == "owner"
    assert page.text_content("#me-workspace") == "Browser Co"
    shot(page, "login-signed-in-after-enrollment")

    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    (credential,) = credentials["credentials"]
    assert credential["isResidentCredential"] is True

    page.click("#signout")
    visible(page, "#signin")
    page.click("#passkey-signin")
    visible(page, "#account")
    assert page.text_content("#me-email") == owner
    shot(page, "login-signed-in-with-passkey")

    # Without user verification the browser refuses before anything reaches the server.
    page.click("#signout")
    visible(page, "#signin")
    cdp.send(
        "WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": False}
    )
    page.click("#passkey-signin")
    visible(page, "#error")
    assert page.is_hidden("#account")
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_platform_admin_enrolls_and_runs_the_console(live: LiveServer, chromium: Any) -> None:
    email = f"staff-{secrets.token_hex(4)}@flowgrid.test"
    token, _ = live.run(lambda store: signin.invite_platform_admin(store, email, datetime.now(UTC)))
    page, _, _ = new_page_with_authenticator(chromium)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{live.url}/platform?enroll={token}")
    visible(page, "#enroll")
    shot(page, "platform-enroll")
    page.click("#enroll-passkey")
    visible(page, "#console")
    assert page.text_content("#me-email") == email

    name = f"Console {secrets.token_hex(3)}"
    page.fill("#ws-name", name)
    page.fill("#ws-owner", f"boss-{secrets.token_hex(3)}@example.com")
    page.click("#create-form button[type=submit]")
    visible(page, "#created")
    assert "/login?invite=" in (page.text_content("#created-url") or "")
    page.wait_for_selector(f"#workspaces tr:has-text('{name}')")
    shot(page, "platform-console")

    page.click(f"button[aria-label='Retire the key of {name}']")
    visible(page, "#retire-form")
    page.fill("#retire-confirm", name.lower())
    assert page.is_disabled("#retire-submit"), "only the exact name enables retiring"
    page.fill("#retire-confirm", name)
    page.click("#retire-submit")
    page.wait_for_selector(f"#workspaces tr:has-text('{name}') >> text=retired")
    shot(page, "platform-retired")

    page.click("#signout")
    visible(page, "#signin")
    page.click("#passkey-signin")
    visible(page, "#console")
    assert page.text_content("#me-email") == email
    assert not [e for e in errors if "Content Security Policy" in e], errors
