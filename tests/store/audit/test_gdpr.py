"""GDPR erasure keeps the chain verifiable and makes the person unreadable everywhere (AUD-08);
access exports everything about the person, decrypted."""

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import insert

from store.audit.export import export_trail
from store.audit.opener import ERASED
from store.audit.verify import verify_chain
from store.entities import BY_NAME
from store.errors import Forbidden, NotFound
from store.models import ListMembership, Tagging
from store.runtime import Store
from store.services import gdpr, records
from tests import conftest
from tests.conftest import MakeWorkspace
from tests.store.audit.helpers import ACTOR, events, superuser

CANARY = {
    "first_name": "Zebulon",
    "last_name": "Quattlebaum",
    "email": "zebulon.quattlebaum@canary.test",
    "phone": "+44 20 7946 0999",
    "title": "Chief Canary",
}
OTHER = {"first_name": "Beatrix", "last_name": "Other", "email": "bea@other.test"}


async def _person_with_history(
    store: Store, tenant: uuid.UUID, note_body: str = "Met at the summit"
) -> dict[str, Any]:
    """A contact with something of everything pointing at it, and a bystander."""
    async with store.tenant_session(tenant, ACTOR, via="ui") as ts:
        person = await records.create_record(ts, BY_NAME["contact"], CANARY)
        pid = person.id  # type: ignore[attr-defined]
        await records.update_record(ts, BY_NAME["contact"], pid, {"notes": "Prefers calls"})
        bystander = await records.create_record(ts, BY_NAME["contact"], OTHER)
        deal = await records.create_record(ts, BY_NAME["deal"], {"name": "Big", "contact_id": pid})
        ticket = await records.create_record(
            ts, BY_NAME["ticket"], {"subject": "Help", "contact_id": pid}
        )
        about = {"record_type": "contact", "record_id": pid}
        note = await records.create_record(ts, BY_NAME["note"], {"body": note_body, **about})
        activity = await records.create_record(
            ts, BY_NAME["activity"], {"subject": "Called about the renewal", **about}
        )
        task = await records.create_record(ts, BY_NAME["task"], {"title": "Call back", **about})
        tag = await records.create_record(ts, BY_NAME["tag"], {"name": "vip"})
        roster = await records.create_record(ts, BY_NAME["list"], {"name": "Summit"})
        await ts.db.execute(
            insert(Tagging.__table__).values(  # pyright: ignore[reportAttributeAccessIssue]
                tenant_id=tenant,
                id=uuid.uuid4(),
                tag_id=tag.id,
                **about,  # type: ignore[attr-defined]
            )
        )
        await ts.db.execute(
            insert(ListMembership.__table__).values(  # pyright: ignore[reportAttributeAccessIssue]
                tenant_id=tenant,
                id=uuid.uuid4(),
                list_id=roster.id,
                record_id=pid,  # type: ignore[attr-defined]
            )
        )
    return {
        "person": pid,
        "bystander": bystander.id,  # type: ignore[attr-defined]
        "deal": deal.id,  # type: ignore[attr-defined]
        "ticket": ticket.id,  # type: ignore[attr-defined]
        "note": note.id,  # type: ignore[attr-defined]
        "activity": activity.id,  # type: ignore[attr-defined]
        "task": task.id,  # type: ignore[attr-defined]
    }


async def test_export_contact_gathers_everything_about_the_person(
    store: Store, make_workspace: MakeWorkspace
) -> None:
    tenant = await make_workspace()
    ids = await _person_with_history(store, tenant)
    async with store.tenant_session(tenant, ACTOR, via="ui", role="admin") as ts:
        document = await gdpr.export_contact(ts, ids["person"])
    json.dumps(document)  # JSON-ready as it is
    assert {k: document["contact"][k] for k in CANARY} == CANARY | {"phone": CANARY["phone"]}
    assert [d["id"] for d in document["deals"]] == [str(ids["deal"])]
    assert [t["id"] for t in document["tickets"]] == [str(ids["ticket"])]
    assert [n["body"] for n in document["notes"]] == ["Met at the summit"]
    assert [a["id"] for a in document["activities"]] == [str(ids["activity"])]
    assert [t["id"] for t in document["tasks"]] == [str(ids["task"])]
    assert [t["tag"] for t in document["taggings"]] == ["vip"]
    assert [m["list"] for m in document["list_memberships"]] == ["Summit"]
    contact_events = [e for e in document["audit"] if e["table_name"] == "contacts"]
    assert [e["action"] for e in contact_events] == ["insert", "update"]
    assert contact_events[0]["after"]["first_name"] == "Zebulon"
    assert contact_events[1]["after"]["notes"] == "Prefers calls"
    assert str(ids["bystander"]) not in json.dumps(document)


async def test_erasure_keeps_the_chain_and_leaves_nothing_readable(
    store: Store, make_workspace: MakeWorkspace, test_db: conftest.TestDatabase
) -> None:
    tenant = await make_workspace()
    ids = await _person_with_history(store, tenant)
    person = ids["person"]
    with superuser(test_db) as conn:
        subject_key = conn.execute(
            "SELECT wrapped FROM subject_keys WHERE tenant_id = %s AND id = %s", (tenant, person)
        ).fetchone()
    assert subject_key is not None

    async with store.tenant_session(tenant, ACTOR, via="ui", role="admin") as ts:
        erasure = await gdpr.erase_contact(ts, person, reason="Art. 17 request #42")
    assert erasure.key_shredded
    assert erasure.removed == {
        "taggings": 1,
        "list_memberships": 1,
        "notes": 1,
        "activities": 1,
        "approval_requests": 0,
        "search_tokens": erasure.removed["search_tokens"],
    }
    assert erasure.removed["search_tokens"] > 0

    # The chain still verifies, and the erasure is in it, without personal data.
    assert (await verify_chain(store, tenant)).ok
    trail = events(test_db, tenant)
    (erase,) = [e for e in trail if e["action"] == "erase"]
    assert (erase["table_name"], erase["record_id"], erase["actor"]) == ("contacts", person, ACTOR)
    assert erase["after"] == {"reason": "Art. 17 request #42"}
    assert set(erase["before"]) == {
        "tenant_id",
        "id",
        "created_at",
        "updated_at",
        "version",
        "company_id",
        "owner_id",
    }

    # Nothing in the raw trail (or anywhere the superuser looks) reads as the person any more:
    # no plaintext, and not the wrapped subject key either (that would undo the shredding).
    raw = json.dumps([[str(v) for v in e.values()] for e in trail])
    for value in CANARY.values():
        assert value not in raw
    assert bytes(subject_key["wrapped"]).hex() not in raw
    with superuser(test_db) as conn:
        left = conn.execute(
            "SELECT (SELECT count(*) FROM subject_keys WHERE tenant_id = %(t)s AND id = %(p)s) "
            "+ (SELECT count(*) FROM search_tokens WHERE tenant_id = %(t)s AND record_id = %(p)s)"
            "+ (SELECT count(*) FROM contacts WHERE tenant_id = %(t)s AND id = %(p)s) AS n",
            {"t": tenant, "p": person},
        ).fetchone()
    assert left == {"n": 0}

    # Linked records: unlinked or gone, as the service documents.
    async with store.tenant_session(tenant, ACTOR, via="ui") as ts:
        deal = await records.get_record(ts, BY_NAME["deal"], ids["deal"])
        ticket = await records.get_record(ts, BY_NAME["ticket"], ids["ticket"])
        task = await records.get_record(ts, BY_NAME["task"], ids["task"])
        assert (deal.contact_id, ticket.contact_id) == (None, None)  # type: ignore[attr-defined]
        assert (task.record_type, task.record_id) == (None, None)  # type: ignore[attr-defined]
        for name in ("note", "activity", "contact"):
            with pytest.raises(NotFound):
                await records.get_record(
                    ts, BY_NAME[name], ids["person" if name == "contact" else name]
                )
        with pytest.raises(NotFound):
            await gdpr.export_contact(ts, person)

    # The export: every earlier event about the person reads [erased]; the bystander is intact.
    exported = [json.loads(line) async for line in export_trail(store, tenant)]
    about_person = [
        e
        for e in exported
        if e["type"] == "event" and e["table_name"] == "contacts" and e["record_id"] == str(person)
    ]
    assert [e["action"] for e in about_person] == ["insert", "update", "erase"]
    for event in about_person[:2]:
        assert {event["after"][k] for k in CANARY} == {ERASED}
    (bystander,) = [
        e
        for e in exported
        if e["type"] == "event"
        and e["record_id"] == str(ids["bystander"])
        and e["table_name"] == "contacts"
    ]
    assert {k: bystander["after"][k] for k in OTHER} == OTHER
    assert not any(value in json.dumps(exported) for value in CANARY.values())


@pytest.mark.parametrize("role", ["member", "viewer"])
async def test_erasure_and_access_export_need_an_admin(
    role: Any, store: Store, make_workspace: MakeWorkspace
) -> None:
    tenant = await make_workspace()
    async with store.tenant_session(tenant, ACTOR) as ts:
        person = await records.create_record(ts, BY_NAME["contact"], OTHER)
    async with store.tenant_session(tenant, ACTOR, role=role) as ts:
        with pytest.raises(Forbidden):
            await gdpr.erase_contact(ts, person.id)  # type: ignore[attr-defined]
        with pytest.raises(Forbidden):
            await gdpr.export_contact(ts, person.id)  # type: ignore[attr-defined]


async def test_erasing_a_missing_contact_is_not_found(
    store: Store, make_workspace: MakeWorkspace
) -> None:
    tenant = await make_workspace()
    async with store.tenant_session(tenant, ACTOR) as ts:
        with pytest.raises(NotFound):
            await gdpr.erase_contact(ts, uuid.uuid4())


async def test_free_text_about_the_person_in_linked_notes_is_unreadable_after_erasure(
    store: Store, make_workspace: MakeWorkspace
) -> None:
    tenant = await make_workspace()
    ids = await _person_with_history(store, tenant, note_body="Birthday on 12 May, allergic")
    before = [json.loads(line) async for line in export_trail(store, tenant)]
    assert "allergic" in json.dumps(before), "readable in the trail until the person is erased"

    async with store.tenant_session(tenant, ACTOR, via="ui", role="admin") as ts:
        await gdpr.erase_contact(ts, ids["person"])
    exported = [json.loads(line) async for line in export_trail(store, tenant)]
    assert "allergic" not in json.dumps(exported)
    assert "Called about the renewal" not in json.dumps(exported)
    for table, record in (("notes", ids["note"]), ("activities", ids["activity"])):
        history = [e for e in exported if e.get("record_id") == str(record)]
        assert [e["action"] for e in history] == ["insert", "delete"], table
        sealed = "body" if table == "notes" else "subject"
        assert history[0]["after"][sealed] == ERASED
        assert history[1]["before"][sealed] == ERASED
    # The task about the person stays the team's, readable, and unlinked.
    (task_insert, *_) = [e for e in exported if e.get("record_id") == str(ids["task"])]
    assert task_insert["after"]["title"] == "Call back"
