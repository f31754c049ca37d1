"""Real Slack reaching Nexus: signed events in, replies out to a Slack-compatible server.

Events are signed with slack_sdk's own SignatureVerifier, as Slack signs them. Replies go to a
local server that answers `chat.postMessage` like Slack and records what it got.
"""

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from slack_sdk.signature import SignatureVerifier

from store.entities import BY_NAME
from store.services import records
from tests.conftest import TestDatabase
from tests.web.conftest import PUBLIC_URL, MakeWorkspace, Workspace, app_store
from web.app import create_app
from web.settings import WebSettings

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_USER = "U0APPBOT"
PERSON = "U0SLACKPERSON"


@dataclass
class FakeSlack:
    """A Slack Web API stand-in: `chat.postMessage` answers ok and is recorded."""

    server: ThreadingHTTPServer
    posts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    async def wait_for(self, count: int, seconds: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while len(self.posts) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"Slack got {len(self.posts)} posts, expected {count}")
            await asyncio.sleep(0.05)
        return self.posts


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    holder: dict[str, FakeSlack] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            token = self.headers["Authorization"].removeprefix("Bearer ")
            if self.path.endswith("/auth.test"):
                # A bot token here is "xoxb-<team id>-...": Slack knows which team it is for.
                team = token.split("-")[1] if token.startswith("xoxb-T") else None
                answer = (
                    {"ok": True, "team_id": team}
                    if team
                    else {"ok": False, "error": "invalid_auth"}
                )
            else:
                holder["slack"].posts.append({"path": self.path, "token": token, **body})
                answer = {"ok": True, "ts": "1800000000.000001"}
            raw = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["slack"] = FakeSlack(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield holder["slack"]
    server.shutdown()
    server.server_close()


@pytest.fixture
async def app(test_db: TestDatabase, tmp_path: Path, slack: FakeSlack) -> AsyncIterator[FastAPI]:
    """The app with Slack events enabled, talking to the stand-in (the default has them off)."""
    from store.settings import StoreSettings

    settings = WebSettings(
        public_url=PUBLIC_URL, slack_signing_secret=SECRET, slack_api_url=slack.url
    )
    application = create_app(
        urls=test_db.urls, store_settings=StoreSettings(data_dir=tmp_path), web_settings=settings
    )
    async with application.router.lifespan_context(application):
        yield application


def token_of(team: str) -> str:
    return f"xoxb-{team}-secret-bot-token"


def slack_server(app: FastAPI) -> httpx.AsyncClient:
    """What Slack's servers look like to FlowGrid: no cookie, no Origin."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL)


def signed(body: dict[str, Any], *, age: int = 0, secret: str = SECRET) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()) - age)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=raw)
    headers = {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/json",
    }
    return {"content": raw, "headers": headers}


def mention(
    team: str, text: str, *, user: str = PERSON, ts: str | None = None, **event: Any
) -> dict[str, Any]:
    stamp = ts or f"{int(time.time())}.{uuid.uuid4().int % 1_000_000:06d}"
    return {
        "type": "event_callback",
        "team_id": team,
        "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
        "authorizations": [{"user_id": BOT_USER, "is_bot": True}],
        "event": {
            "type": "app_mention",
            "user": user,
            "text": f"<@{BOT_USER}> {text}",
            "ts": stamp,
            "channel": "C0SALES",
            "event_ts": stamp,
            **event,
        },
    }


async def connected(workspace: MakeWorkspace, slack: FakeSlack) -> tuple[Workspace, str]:
    """A workspace whose admin connected a new Slack workspace and linked PERSON to its member."""
    ws = await workspace(("admin", "member"))
    team = "T0" + uuid.uuid4().hex[:10].upper()
    admin = ws.browsers["admin"]
    put = await admin.request("PUT", "/api/slack/install", json={"bot_token": token_of(team)})
    assert put.status_code == 200 and put.json() == {"team_id": team}, put.text
    member_id = ws.browsers["member"].me["member_id"]  # pyright: ignore[reportOptionalSubscript]
    link = await admin.request("PUT", f"/api/slack/users/{PERSON}", json={"member_id": member_id})
    assert link.status_code == 204, link.text
    return ws, team


async def test_without_a_signing_secret_the_receiver_does_not_exist(
    test_db: TestDatabase, tmp_path: Path
) -> None:
    from store.settings import StoreSettings

    plain = create_app(
        urls=test_db.urls,
        store_settings=StoreSettings(data_dir=tmp_path),
        web_settings=WebSettings(public_url=PUBLIC_URL),
    )
    async with plain.router.lifespan_context(plain):
        answer = await slack_server(plain).post("/slack/events", **signed({"type": "x"}))
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


async def test_the_url_check_and_the_signature(app: FastAPI) -> None:
    client = slack_server(app)
    challenge = {
        "type": "url_verification",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    }
    ok = await client.post("/slack/events", **signed(challenge))
    assert ok.json() == {"challenge": challenge["challenge"]}
    forged = await client.post("/slack/events", **signed(challenge, secret="not-the-secret"))
    assert forged.status_code == 401
    stale = await client.post("/slack/events", **signed(challenge, age=6 * 60))
    assert stale.status_code == 401
    tampered = signed(challenge)
    tampered["content"] = tampered["content"].replace(b"3eZ", b"4eZ")
    assert (await client.post("/slack/events", **tampered)).status_code == 401


async def test_a_mention_gets_nexus_answer_in_the_slack_thread(
    app: FastAPI, workspace: MakeWorkspace, slack: FakeSlack, test_db: TestDatabase
) -> None:
    ws, team = await connected(workspace, slack)
    event = mention(team, "add contact Grace Hopper email grace@slack.example")
    answer = await slack_server(app).post("/slack/events", **signed(event))
    assert answer.status_code == 200
    [reply] = await slack.wait_for(1)
    assert reply["path"] == "/api/chat.postMessage"
    assert reply["token"] == token_of(team)
    assert reply["unfurl_links"] is False and reply["unfurl_media"] is False
    assert (reply["channel"], reply["thread_ts"]) == ("C0SALES", event["event"]["ts"])
    assert "Grace" in reply["text"]
    async with app_store(app).tenant_session(ws.tenant_id, "system:test") as ts:
        page = await records.list_records(ts, BY_NAME["contact"], q="grace@slack.example")
    [grace] = page.items
    member_id = ws.browsers["member"].me["member_id"]  # pyright: ignore[reportOptionalSubscript]
    assert grace.model_dump()["last_name"] == "Hopper"
    with psycopg.connect(test_db.superuser) as conn:
        mirrored = conn.execute(
            "SELECT actor FROM audit_events WHERE tenant_id = %s AND table_name = 'messages' "
            "ORDER BY seq LIMIT 1",
            (ws.tenant_id,),
        ).fetchone()
    assert mirrored == (f"slack:{member_id}",)


async def test_a_retried_event_is_answered_once(
    app: FastAPI, workspace: MakeWorkspace, slack: FakeSlack
) -> None:
    _, team = await connected(workspace, slack)
    event = mention(team, "find contacts grace")
    client = slack_server(app)
    for _ in range(3):
        assert (await client.post("/slack/events", **signed(event))).status_code == 200
    await slack.wait_for(1)
    await asyncio.sleep(0.5)
    assert len(slack.posts) == 1


async def test_an_unlinked_slack_user_is_told_to_ask_an_admin(
    app: FastAPI, workspace: MakeWorkspace, slack: FakeSlack
) -> None:
    ws, team = await connected(workspace, slack)
    event = mention(team, "add contact Who Am I", user="U0STRANGER")
    await slack_server(app).post("/slack/events", **signed(event))
    [reply] = await slack.wait_for(1)
    assert "link Slack user U0STRANGER" in reply["text"]
    async with app_store(app).tenant_session(ws.tenant_id, "system:test") as ts:
        assert (await records.list_records(ts, BY_NAME["contact"], q="Who Am")).items == []


async def test_events_nobody_should_answer_are_ignored(
    app: FastAPI, workspace: MakeWorkspace, slack: FakeSlack, test_db: TestDatabase
) -> None:
    ws, team = await connected(workspace, slack)
    client = slack_server(app)
    other_team = mention("T0ELSEWHERE", "add contact Other Team")
    from_a_bot = mention(team, "add contact Bot Said")
    from_a_bot["event"]["bot_id"] = "B0SOMEBOT"
    edited = mention(team, "add contact Edited")
    edited["event"]["subtype"] = "message_changed"
    for event in (other_team, from_a_bot, edited):
        assert (await client.post("/slack/events", **signed(event))).status_code == 200
    await asyncio.gather(*list(getattr(app.state, "slack_event_tasks", set())))
    assert slack.posts == []
    with psycopg.connect(test_db.superuser) as conn:
        mirrored = conn.execute(
            "SELECT count(*) FROM messages WHERE tenant_id = %s", (ws.tenant_id,)
        ).fetchone()
    assert mirrored == (0,)


async def test_a_mirrored_slack_channel_is_not_shown_to_the_slack_style_api(
    app: FastAPI, workspace: MakeWorkspace, slack: FakeSlack
) -> None:
    """A Slack channel's audience is Slack's: another member's API token cannot read it."""
    ws, team = await connected(workspace, slack)
    await slack_server(app).post("/slack/events", **signed(mention(team, "find contacts x")))
    await slack.wait_for(1)
    made = await ws.browsers["admin"].post("/api/tokens", json={"name": "t"})
    token = made.json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    client = slack_server(app)
    listed = await client.post(
        "/slack/api/conversations.list", data={"types": "public_channel,im"}, headers=headers
    )
    assert "C0SALES" not in [c["id"] for c in listed.json()["channels"]]
    history = await client.post(
        "/slack/api/conversations.history", data={"channel": "C0SALES"}, headers=headers
    )
    assert history.json() == {"ok": False, "error": "channel_not_found"}


async def test_unsigned_odd_or_huge_requests_are_refused(app: FastAPI) -> None:
    client = slack_server(app)
    body = signed({"type": "url_verification", "challenge": "c"})
    for headers in (
        {},
        {"X-Slack-Request-Timestamp": "not-a-number", "X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": body["headers"]["X-Slack-Request-Timestamp"]},
    ):
        answer = await client.post("/slack/events", content=body["content"], headers=headers)
        assert answer.status_code == 401
    latin = signed({"type": "x"})
    latin["content"] = b"\xff\xfe" + latin["content"]
    assert (await client.post("/slack/events", **latin)).status_code == 401
    huge = await client.post("/slack/events", **signed({"type": "x", "pad": "a" * 300_000}))
    assert huge.status_code == 413


async def test_the_bot_token_is_never_shown_again(
    app: FastAPI, workspace: MakeWorkspace, slack: FakeSlack
) -> None:
    ws, team = await connected(workspace, slack)
    shown = (await ws.browsers["admin"].get("/api/slack/install")).json()
    assert shown == {"team_id": team}
    export = await ws.browsers["admin"].get("/api/audit/export?format=jsonl")
    assert "secret-bot-token" not in export.text and "slack_installs" in export.text


async def test_a_slack_workspace_is_claimed_with_its_token_and_only_once(
    app: FastAPI, workspace: MakeWorkspace, slack: FakeSlack
) -> None:
    _, team = await connected(workspace, slack)
    other = await workspace(("admin",))
    admin = other.browsers["admin"]
    taken = await admin.request("PUT", "/api/slack/install", json={"bot_token": token_of(team)})
    assert taken.status_code == 409
    refused = await admin.request("PUT", "/api/slack/install", json={"bot_token": "xoxb-forged"})
    assert refused.status_code == 422 and "Slack did not accept it" in refused.json()["detail"]
    assert (await admin.get("/api/slack/install")).json() == {"team_id": None}
