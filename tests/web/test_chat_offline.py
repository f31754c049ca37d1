"""The chat routes end to end with the offline model: each documented command really changes
(or reads) the workspace's records, through the same tools a real model would call."""

from collections.abc import Iterator
from typing import Any

import pydantic_ai.models
import pytest
from fastapi import FastAPI

from agent.offline import offline_model
from agent.turn import ChatService
from store.entities import BY_NAME
from store.services import records
from tests.web.chat_support import decide, kinds, new_conversation, of, say, text_of
from tests.web.conftest import MakeWorkspace, app_store


@pytest.fixture(autouse=True)
def no_model_requests() -> Iterator[None]:
    previous = pydantic_ai.models.ALLOW_MODEL_REQUESTS
    pydantic_ai.models.ALLOW_MODEL_REQUESTS = False
    yield
    pydantic_ai.models.ALLOW_MODEL_REQUESTS = previous


@pytest.fixture
def offline(app: FastAPI) -> ChatService:
    service = ChatService()
    service.use_model(offline_model(), name="offline", provider="offline")
    app.state.chat = service
    return service


async def stored(app: FastAPI, tenant: Any, entity: str, **filters: Any) -> list[Any]:
    async with app_store(app).tenant_session(tenant, "system:test") as ts:
        page = await records.list_records(ts, BY_NAME[entity], filters=filters, limit=50)
    return list(page.items)


async def test_add_find_update_contact(
    app: FastAPI, workspace: MakeWorkspace, offline: ChatService
) -> None:
    ws = await workspace(("owner",))
    b = ws.browsers["owner"]
    conv = await new_conversation(b)

    response, events = await say(
        b, conv, "add contact Ada Lovelace email ada@example.com title Countess"
    )
    assert response.status_code == 200, response.text
    assert kinds(events)[0] == "message-start" and kinds(events)[-1] == "done"
    assert [c["name"] for c in of(events, "tool-call")] == ["create_contact"]
    assert of(events, "tool-result")[0]["ok"] is True
    assert "Added the contact **Ada Lovelace**" in text_of(events)
    [ada] = await stored(app, ws.tenant_id, "contact", email="ada@example.com")
    assert ada.first_name == "Ada" and ada.title == "Countess"

    _, events = await say(b, conv, "find contacts ada")
    assert "| Ada | Lovelace | ada@example.com |" in text_of(events)

    _, events = await say(b, conv, "update contact Ada Lovelace set title to Analyst")
    assert [c["name"] for c in of(events, "tool-call")] == ["search_contacts", "update_contact"]
    [ada] = await stored(app, ws.tenant_id, "contact", email="ada@example.com")
    assert ada.title == "Analyst"


async def test_companies_deals_tasks(
    app: FastAPI, workspace: MakeWorkspace, offline: ChatService
) -> None:
    ws = await workspace(("member",))
    b = ws.browsers["member"]
    conv = await new_conversation(b)

    _, events = await say(b, conv, "add company Acme Ltd domain acme.example")
    assert of(events, "tool-result")[0]["ok"], events
    [acme] = await stored(app, ws.tenant_id, "company", domain="acme.example")
    assert acme.name == "Acme Ltd"
    _, events = await say(b, conv, "update company Acme Ltd set industry to Rockets")
    [acme] = await stored(app, ws.tenant_id, "company", domain="acme.example")
    assert acme.industry == "Rockets"
    _, events = await say(b, conv, "find companies acme")
    assert "| Acme Ltd | acme.example | Rockets |" in text_of(events)

    _, events = await say(b, conv, "add deal Acme renewal amount 12000")
    assert of(events, "tool-result")[0]["ok"], events
    deals = [d for d in await stored(app, ws.tenant_id, "deal") if d.name == "Acme renewal"]
    assert len(deals) == 1 and float(deals[0].amount) == 12000

    _, events = await say(b, conv, "move deal Acme renewal to Negotiation")
    assert [c["name"] for c in of(events, "tool-call")] == ["search_deals", "move_deal_stage"]
    assert of(events, "tool-result")[-1]["ok"], of(events, "tool-result")
    assert "Moved the deal **Acme renewal** to **Negotiation**" in text_of(events)

    _, events = await say(b, conv, "show pipeline")
    answer = text_of(events)
    assert "| Negotiation | 1 | USD 12000" in answer, answer

    _, events = await say(b, conv, "add task Send Acme the contract")
    tasks = [
        t for t in await stored(app, ws.tenant_id, "task") if t.title == "Send Acme the contract"
    ]
    assert len(tasks) == 1
    _, events = await say(b, conv, "update task Send Acme the contract set priority to high")
    [task] = [
        t for t in await stored(app, ws.tenant_id, "task") if t.title == "Send Acme the contract"
    ]
    assert task.priority == "high"
    _, events = await say(b, conv, "find tasks acme")
    assert "Send Acme the contract" in text_of(events)
    _, events = await say(b, conv, "find acme")  # every kind of record
    answer = text_of(events)
    assert "| company | Acme Ltd acme.example |" in answer, answer
    assert "| deal | Acme renewal |" in answer, answer


async def test_log_call(app: FastAPI, workspace: MakeWorkspace, offline: ChatService) -> None:
    ws = await workspace(("member",))
    b = ws.browsers["member"]
    conv = await new_conversation(b)
    await say(b, conv, "add contact Grace Hopper")
    _, events = await say(b, conv, "log call with Grace Hopper: talked about COBOL pricing")
    assert [c["name"] for c in of(events, "tool-call")] == ["search_contacts", "log_activity"]
    [activity] = [a for a in await stored(app, ws.tenant_id, "activity") if a.kind == "call"]
    assert activity.body == "talked about COBOL pricing"


async def test_delete_waits_for_approval(
    app: FastAPI, workspace: MakeWorkspace, offline: ChatService
) -> None:
    ws = await workspace(("member",))
    b = ws.browsers["member"]
    conv = await new_conversation(b)
    await say(b, conv, "add contact Alan Turing email alan@example.com")

    _, events = await say(b, conv, "delete contact Alan Turing")
    [request] = of(events, "approval-request")
    assert request["name"] == "delete_contact" and request["effect"] == "destructive"
    assert kinds(events)[-1] == "done"
    assert await stored(app, ws.tenant_id, "contact", email="alan@example.com")  # still there
    # A reload shows the same request again, from the server.
    [pending] = (await b.get(f"/api/chat/conversations/{conv}")).json()["pending"]
    assert pending == request

    _, events = await decide(b, conv, request["approval_id"], approve=True)
    assert kinds(events)[0] == "message-start", events
    assert of(events, "tool-result")[0]["ok"] is True, events
    assert "Deleted the contact **Alan Turing**" in text_of(events)
    assert await stored(app, ws.tenant_id, "contact", email="alan@example.com") == []


async def test_denied_delete_changes_nothing(
    app: FastAPI, workspace: MakeWorkspace, offline: ChatService
) -> None:
    ws = await workspace(("member",))
    b = ws.browsers["member"]
    conv = await new_conversation(b)
    await say(b, conv, "add company Initech")
    _, events = await say(b, conv, "delete company Initech")
    [request] = of(events, "approval-request")
    _, events = await decide(b, conv, request["approval_id"], approve=False)
    assert "Not done" in text_of(events)
    assert [c.name for c in await stored(app, ws.tenant_id, "company")] == ["Initech"]


async def test_help_and_not_understood(
    app: FastAPI, workspace: MakeWorkspace, offline: ChatService
) -> None:
    ws = await workspace(("viewer",))
    b = ws.browsers["viewer"]
    conv = await new_conversation(b)
    _, events = await say(b, conv, "help")
    assert "`show pipeline`" in text_of(events) and of(events, "tool-call") == []
    _, events = await say(b, conv, "write me a poem about churn")
    answer = text_of(events)
    assert "did not understand" in answer and "ANTHROPIC_API_KEY" in answer


async def test_viewer_cannot_add(
    app: FastAPI, workspace: MakeWorkspace, offline: ChatService
) -> None:
    ws = await workspace(("viewer",))
    b = ws.browsers["viewer"]
    conv = await new_conversation(b)
    _, events = await say(b, conv, "add contact Eve Spy")
    assert await stored(app, ws.tenant_id, "contact") == []
    assert kinds(events)[-1] == "done"
