"""The app and trust pages: strict CSP, no inline script, and live evidence from the database."""

import re

from fastapi import FastAPI

from agent.offline import offline_model
from agent.turn import ChatService
from tests.web.conftest import MakeWorkspace


async def test_pages_have_a_strict_csp_and_no_inline_script(app: FastAPI, browser) -> None:  # type: ignore[no-untyped-def]
    b = browser()
    for path in ("/", "/trust"):
        response = await b.get(path)
        assert response.status_code == 200
        csp = response.headers["content-security-policy"]
        assert (
            "default-src 'self'" in csp and "img-src 'self'" in csp and "connect-src 'self'" in csp
        )
        assert "unsafe-inline" not in csp
        scripts = re.findall(r"<script[^>]*>(.*?)</script>", response.text, re.S)
        assert scripts and all(s.strip() == "" for s in scripts)  # external modules only
        assert "style=" not in response.text


async def test_trust_evidence_is_live(app: FastAPI, workspace: MakeWorkspace) -> None:
    service = ChatService()
    service.use_model(offline_model(), name="offline", provider="offline (no model provider)")
    app.state.chat = service
    b = (await workspace(("viewer",))).browsers["viewer"]
    evidence = (await b.get("/api/trust")).json()
    tables = {t["table_name"]: t for t in evidence["rls"]}
    assert tables["contacts"]["rls"] and tables["contacts"]["forced"]
    assert tables["chat_messages"]["tenant_scoped"]
    assert all(t["rls"] and t["forced"] for t in tables.values() if t["tenant_scoped"])
    assert tables["sessions"]["platform"] and not tables["sessions"]["tenant_scoped"]
    # The page shows every table as pg_catalog has it; the workspace's own data must be forced.
    for name in (
        "contacts",
        "companies",
        "deals",
        "tasks",
        "conversations",
        "chat_messages",
        "approval_requests",
        "audit_events",
    ):
        assert tables[name]["rls"] and tables[name]["forced"], name
    assert evidence["audit"]["ok"] is True and evidence["audit"]["events"] > 0
    assert evidence["keys"]["provider"] == "local" and evidence["keys"]["key_state"]
    assert evidence["model"] == {"name": "offline", "provider": "offline (no model provider)"}
    assert not any(s["name"] == "Anthropic" for s in evidence["subprocessors"])
    assert (await b.client.get("/api/trust")).status_code in (200,)  # cookie session, GET: no CSRF
