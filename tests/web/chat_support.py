"""Helpers for the chat tests: read an SSE body, make a signed-in chat, script a model."""

import json
from dataclasses import dataclass
from typing import Any

import httpx

from tests.web.conftest import Browser


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    data: dict[str, Any]


def parse_sse(body: str) -> list[Event]:
    """The events of an SSE body (comments and pings skipped)."""
    events: list[Event] = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = fields.get(name, "") + value.removeprefix(" ")
        if "event" in fields and "data" in fields:
            events.append(
                Event(int(fields.get("id", "0")), fields["event"], json.loads(fields["data"]))
            )
    return events


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def text_of(events: list[Event]) -> str:
    return "".join(e.data["delta"] for e in events if e.kind == "text-delta")


def of(events: list[Event], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.kind == kind]


async def new_conversation(b: Browser) -> str:
    response = await b.post("/api/chat/conversations", json={})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def say(b: Browser, conversation: str, text: str) -> tuple[httpx.Response, list[Event]]:
    response = await b.post(f"/api/chat/conversations/{conversation}/messages", json={"text": text})
    events = parse_sse(response.text) if response.status_code == 200 else []
    return response, events


async def decide(
    b: Browser, conversation: str, approval_id: str, approve: bool = True
) -> tuple[httpx.Response, list[Event]]:
    response = await b.post(
        f"/api/chat/conversations/{conversation}/approvals",
        json={"approval_id": approval_id, "approve": approve},
    )
    events = parse_sse(response.text) if response.status_code == 200 else []
    return response, events
