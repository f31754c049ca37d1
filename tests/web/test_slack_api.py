"""The Slack-style API with the real Slack clients: slack_sdk's WebClient and slack_bolt's App.

FlowGrid runs under uvicorn (tests/web/test_browser_passkeys.LiveServer) with the offline model,
and the clients talk to `<url>/slack/api/` exactly as they would to slack.com. Nexus answers in
threads in the background, so the tests poll `conversations.replies` until its reply arrives.
"""

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from store.auth import api_tokens
from store.entities import BY_NAME
from store.runtime import Store
from store.services import membership, records, tenants
from tests.web.test_browser_passkeys import LiveServer
from tests.web.test_browser_passkeys import live as live

NEXUS = "UNEXUS"


@dataclass
class Person:
    client: WebClient
    member_id: uuid.UUID
    token: str

    @property
    def user_id(self) -> str:
        return "U" + self.member_id.hex.upper()


@dataclass
class SlackWorkspace:
    live: LiveServer
    tenant_id: uuid.UUID
    people: dict[str, Person]


def _client(live: LiveServer, token: str) -> WebClient:
    return WebClient(token=token, base_url=f"{live.url}/slack/api/", timeout=30)


def make_workspace(live: LiveServer, *roles: str, kind: str = "api") -> SlackWorkspace:
    """A workspace whose owner and one member per role each hold a token."""

    async def work(store: Store) -> tuple[uuid.UUID, dict[str, tuple[uuid.UUID, str]]]:
        created = await tenants.create_workspace(
            store, name="Slack WS", owner_email=f"o-{uuid.uuid4().hex[:6]}@ex.com", actor="system:t"
        )
        made: dict[str, tuple[uuid.UUID, str]] = {}
        async with store.tenant_session(created.tenant_id, "system:t", via="cli") as ts:
            owner = next(m for m in await membership.list_members(ts) if m.role == "owner")
            members = {"owner": owner.id}
            for role in roles:
                invited = await membership.invite_member(
                    ts, f"{role}-{uuid.uuid4().hex[:6]}@ex.com", role, datetime.now(UTC)
                )
                members[role] = invited.member.id
            for role, member_id in members.items():
                issued = await api_tokens.issue_token(
                    ts, member_id=member_id, name=role, role=None, kind=kind, now=datetime.now(UTC)
                )
                made[role] = (member_id, issued.token)
        return created.tenant_id, made

    tenant, made = live.run(work)
    people = {
        role: Person(_client(live, token), member_id, token)
        for role, (member_id, token) in made.items()
    }
    return SlackWorkspace(live, tenant, people)


@pytest.fixture
def ws(live: LiveServer) -> Iterator[SlackWorkspace]:
    yield make_workspace(live, "viewer", "member")


def nexus_reply(client: WebClient, channel: str, ts: str, *, after: int = 1) -> dict[str, Any]:
    """Nexus's newest reply in the thread of `ts`, once the thread has more than `after` replies."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        messages = client.conversations_replies(channel=channel, ts=ts)["messages"]
        replies = [m for m in messages[1:] if m.get("user") == NEXUS]
        if len(replies) >= after:
            return replies[-1]
        time.sleep(0.1)
    raise AssertionError(f"Nexus did not answer in the thread of {ts}")


def tied_conversation(live: LiveServer, channel: str, ts: str) -> Any:
    """The Nexus conversation a thread was tied to (None: Nexus never took the message)."""
    with psycopg.connect(live.test_db.superuser) as conn:
        row = conn.execute(
            "SELECT m.conversation_id FROM messages m JOIN channels c "
            "ON c.tenant_id = m.tenant_id AND c.id = m.channel_id "
            "WHERE c.slack_id = %s AND m.ts = %s",
            (channel, ts),
        ).fetchone()
    assert row is not None
    return row[0]


def contacts_named(live: LiveServer, tenant: uuid.UUID, q: str) -> list[dict[str, Any]]:
    async def work(store: Store) -> list[dict[str, Any]]:
        async with store.tenant_session(tenant, "system:t") as ts:
            page = await records.list_records(ts, BY_NAME["contact"], q=q)
        return [item.model_dump() for item in page.items]

    return live.run(work)


# --- the clients work ------------------------------------------------------------------------


def test_auth_test_names_the_member_and_the_workspace(ws: SlackWorkspace) -> None:
    owner = ws.people["owner"]
    answer = owner.client.auth_test()
    assert answer["ok"] and answer["user_id"] == owner.user_id
    assert answer["team_id"] == "T" + ws.tenant_id.hex.upper() and answer["team"] == "Slack WS"
    assert "bot_id" not in answer.data


def test_a_bolt_app_starts_with_a_bot_token_and_learns_nexus_user_id(live: LiveServer) -> None:
    from slack_bolt import App

    bots = make_workspace(live, kind="bot")
    client = _client(live, bots.people["owner"].token)
    app = App(signing_secret="s" * 32, client=client)  # App() calls auth.test at once
    identity = app.client.auth_test()
    assert (identity["user_id"], identity["bot_id"]) == (NEXUS, "BNEXUS")


def test_a_mention_gets_nexus_answer_in_the_thread_and_does_the_work(ws: SlackWorkspace) -> None:
    client = ws.people["member"].client
    channel = client.conversations_create(name="sales")["channel"]["id"]
    posted = client.chat_postMessage(
        channel=channel, text=f"<@{NEXUS}> add contact Ada Lovelace email ada@slack.example"
    )
    assert posted["ok"] and posted["message"]["user"] == ws.people["member"].user_id
    reply = nexus_reply(client, channel, posted["ts"])
    assert "Ada" in reply["text"] and reply["thread_ts"] == posted["ts"]
    assert reply["bot_id"]
    [ada] = contacts_named(ws.live, ws.tenant_id, "ada@slack.example")
    assert ada["last_name"] == "Lovelace"


def test_a_message_without_a_mention_is_just_a_message(ws: SlackWorkspace) -> None:
    client = ws.people["member"].client
    channel = client.conversations_create(name="random")["channel"]["id"]
    posted = client.chat_postMessage(channel=channel, text="add contact Nobody Here")
    assert tied_conversation(ws.live, channel, posted["ts"]) is None  # decided in the request
    time.sleep(0.5)
    [only] = client.conversations_replies(channel=channel, ts=posted["ts"])["messages"]
    assert (only["ts"], only["text"]) == (posted["ts"], "add contact Nobody Here")
    assert contacts_named(ws.live, ws.tenant_id, "Nobody") == []


def test_a_delete_waits_for_approve_in_the_thread(ws: SlackWorkspace) -> None:
    client = ws.people["member"].client
    channel = client.conversations_create(name="cleanup")["channel"]["id"]
    made = client.chat_postMessage(channel=channel, text=f"<@{NEXUS}> add contact Tmp Person")
    nexus_reply(client, channel, made["ts"])
    asked = client.chat_postMessage(channel=channel, text=f"<@{NEXUS}> delete contact Tmp Person")
    waiting = nexus_reply(client, channel, asked["ts"])
    assert "Waiting for approval" in waiting["text"] and "delete_contact" in waiting["text"]
    [tmp] = contacts_named(ws.live, ws.tenant_id, "Tmp Person")
    assert str(tmp["id"]) in waiting["text"]  # the exact arguments: you see what you approve
    assert len(contacts_named(ws.live, ws.tenant_id, "Tmp Person")) == 1

    client.chat_postMessage(channel=channel, thread_ts=asked["ts"], text=f"<@{NEXUS}> approve")
    nexus_reply(client, channel, asked["ts"], after=2)
    assert contacts_named(ws.live, ws.tenant_id, "Tmp Person") == []


def test_a_viewer_can_ask_but_nexus_cannot_write_for_them(ws: SlackWorkspace) -> None:
    client = ws.people["viewer"].client
    dm = client.conversations_open(users=NEXUS)["channel"]
    assert dm["is_im"] and dm["id"].startswith("D")
    posted = client.chat_postMessage(channel=dm["id"], text="add contact Viewer Wrote")
    reply = nexus_reply(client, dm["id"], posted["ts"])
    assert reply["text"]
    assert contacts_named(ws.live, ws.tenant_id, "Viewer Wrote") == []


def test_a_direct_message_is_private_to_its_member(ws: SlackWorkspace) -> None:
    mine = ws.people["member"].client.conversations_open(users=NEXUS)["channel"]["id"]
    ws.people["member"].client.chat_postMessage(channel=mine, text="help")
    other = ws.people["owner"].client
    listed = other.conversations_list(types="public_channel,im")["channels"]
    assert mine not in [c["id"] for c in listed]
    with pytest.raises(SlackApiError) as refused:
        other.conversations_history(channel=mine)
    assert refused.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as refused:
        other.chat_postMessage(channel=mine, text="hi")
    assert refused.value.response["error"] == "channel_not_found"


def test_another_workspace_sees_nothing(live: LiveServer, ws: SlackWorkspace) -> None:
    channel = ws.people["owner"].client.conversations_create(name="ours")["channel"]["id"]
    stranger = make_workspace(live).people["owner"].client
    assert channel not in [c["id"] for c in stranger.conversations_list()["channels"]]
    with pytest.raises(SlackApiError) as refused:
        stranger.conversations_history(channel=channel)
    assert refused.value.response["error"] == "channel_not_found"


def test_history_pages_with_next_cursor(ws: SlackWorkspace) -> None:
    client = ws.people["owner"].client
    channel = client.conversations_create(name="busy")["channel"]["id"]
    sent = [client.chat_postMessage(channel=channel, text=f"m{i}")["ts"] for i in range(5)]
    seen = [
        m["ts"]
        for page in client.conversations_history(channel=channel, limit=2)
        for m in page["messages"]
    ]
    assert seen == list(reversed(sent))
    assert sent == sorted(sent) and len(set(sent)) == 5


def test_errors_are_slack_errors(live: LiveServer, ws: SlackWorkspace) -> None:
    client = ws.people["owner"].client
    channel = client.conversations_create(name="errs")["channel"]["id"]
    for call, code in [
        (lambda: client.chat_postMessage(channel="CNOPE", text="x"), "channel_not_found"),
        (lambda: client.conversations_history(channel="CNOPE"), "channel_not_found"),
        (lambda: client.api_call("no.such_method"), "unknown_method"),
        (lambda: client.conversations_history(channel=channel, cursor="!!"), "invalid_cursor"),
        (lambda: client.conversations_replies(channel=channel, ts="1.000001"), "thread_not_found"),
        (lambda: client.conversations_open(users="UOTHER"), "user_not_found"),
        (lambda: _client(live, "fg_" + "0" * 32).auth_test(), "invalid_auth"),
        (lambda: WebClient(base_url=f"{live.url}/slack/api/").auth_test(), "not_authed"),
    ]:
        with pytest.raises(SlackApiError) as refused:
            call()
        assert refused.value.response.status_code == 200
        assert refused.value.response["error"] == code
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel=channel, text="  ")
    assert refused.value.response["error"] == "no_text"


def test_messages_are_sealed_and_audited_as_slack(live: LiveServer, ws: SlackWorkspace) -> None:
    client = ws.people["member"].client
    channel = client.conversations_create(name="secret")["channel"]["id"]
    client.chat_postMessage(channel=channel, text="the launch code is zebra-42")
    with psycopg.connect(live.test_db.superuser) as conn:
        raw = conn.execute(
            "SELECT text FROM messages WHERE tenant_id = %s", (ws.tenant_id,)
        ).fetchall()
        assert raw and all(b"zebra-42" not in bytes(row[0]) for row in raw)
        via = conn.execute(
            "SELECT DISTINCT via, actor FROM audit_events WHERE tenant_id = %s "
            "AND table_name = 'messages'",
            (ws.tenant_id,),
        ).fetchall()
    assert [v for v, _ in via] == ["slack"] and via[0][1].startswith("token:")


def test_bot_messages_never_start_a_turn(live: LiveServer) -> None:
    bots = make_workspace(live, kind="bot")
    client = bots.people["owner"].client
    channel = client.conversations_create(name="bots")["channel"]["id"]
    posted = client.chat_postMessage(channel=channel, text=f"<@{NEXUS}> add contact Bot Loop")
    # A bot token speaks as Nexus, and Nexus never answers itself.
    assert (posted["message"]["user"], posted["message"]["bot_id"]) == (NEXUS, "BNEXUS")
    assert tied_conversation(live, channel, posted["ts"]) is None  # decided in the request
    time.sleep(0.5)
    assert len(client.conversations_replies(channel=channel, ts=posted["ts"])["messages"]) == 1
    assert contacts_named(live, bots.tenant_id, "Bot Loop") == []


def test_a_thread_is_one_members_conversation(ws: SlackWorkspace) -> None:
    """Another member cannot continue it with their own role (or read what it showed)."""
    member, owner = ws.people["member"].client, ws.people["owner"].client
    channel = member.conversations_create(name="shared")["channel"]["id"]
    started = member.chat_postMessage(channel=channel, text=f"<@{NEXUS}> find contacts ada")
    nexus_reply(member, channel, started["ts"])
    owner.chat_postMessage(
        channel=channel, thread_ts=started["ts"], text=f"<@{NEXUS}> add contact Owner Hijack"
    )
    refusal = nexus_reply(owner, channel, started["ts"], after=2)
    assert "another member's conversation" in refusal["text"]
    assert contacts_named(ws.live, ws.tenant_id, "Hijack") == []


def test_the_token_never_travels_in_the_url(live: LiveServer, ws: SlackWorkspace) -> None:
    token = ws.people["owner"].token
    answer = httpx.get(f"{live.url}/slack/api/auth.test", params={"token": token}).json()
    assert answer == {"ok": False, "error": "invalid_arguments"}
    as_form = httpx.post(f"{live.url}/slack/api/auth.test", data={"token": token}).json()
    assert as_form["ok"] is True  # a body field is fine: Bolt sends it that way


def test_list_shows_channels_by_type_and_pages(ws: SlackWorkspace) -> None:
    client = ws.people["member"].client
    made = [client.conversations_create(name=f"c{i}")["channel"]["id"] for i in range(3)]
    dm = client.conversations_open(users=NEXUS)["channel"]["id"]
    listed = [c["id"] for page in client.conversations_list(limit=2) for c in page["channels"]]
    assert listed == made  # public channels only, by default, in order, across pages
    ims = client.conversations_list(types="im")["channels"]
    assert [c["id"] for c in ims] == [dm]
