"""History, undo, GDPR and custom-field tools, end to end through a scripted model."""

import json
import uuid
from typing import Any

from store.audit.export import export_trail
from store.audit.opener import ERASED
from store.runtime import Store
from store.services import tenants
from tests.tools.conftest import Workspace
from tests.tools.support import Nexus, audit_rows, covers, fetch, make, rows


@covers("record_history")
async def test_history_shows_who_changed_what_decrypted(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    created = await nexus.run(("create_contact", {"first_name": "Jane", "title": "CEO"}))
    contact_id = created.data("create_contact")["id"]
    updated = await nexus.run(("update_contact", {"id": contact_id, "changes": {"title": "CTO"}}))
    turn = await nexus.run(("record_history", {"record_type": "contact", "record_id": contact_id}))
    newest, oldest = turn.data("record_history")
    assert newest["action"] == "update"
    assert newest["actor"].startswith(f"agent:{updated.run_id}/")
    assert newest["via"] == "agent"
    assert newest["changes"] == {"title": {"from": "CEO", "to": "CTO"}}
    assert oldest["action"] == "insert"
    assert oldest["changes"] == {"first_name": "Jane", "title": "CEO"}
    assert await audit_rows(store, workspace.tenant, turn.run_id) == set()


@covers("undo_agent_turn")
async def test_undo_reverses_a_turn_newest_first(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    tenant = workspace.tenant
    deal = await make(store, tenant, "deal", name="Renewal", amount=100)
    doomed = await make(store, tenant, "company", name="Globex", domain="globex.test")
    staff = await make(store, tenant, "contact", first_name="Hank", company_id=doomed.id)

    # One agent turn: create, update, tag, and (approved) delete a company with a contact.
    turn = await nexus.run(
        ("create_contact", {"first_name": "Temp", "email": "temp@x.test"}),
        ("update_deal", {"id": str(deal.id), "changes": {"amount": "250"}}),
        ("tag_record", {"record_type": "deal", "record_id": str(deal.id), "tag": "hot"}),
        ("delete_company", {"id": str(doomed.id)}),
    )
    temp_id = turn.data("create_contact")["id"]
    await nexus.approve(turn)
    assert await fetch(store, tenant, "company", doomed.id) is None
    assert (await fetch(store, tenant, "contact", staff.id)).company_id is None

    undo = await nexus.run(("undo_agent_turn", {"run_id": str(turn.run_id)}))
    preview = undo.paused.metadata["call-0"]["preview"]
    assert preview["conflicts"] == {}
    assert len(preview["changes_to_reverse"]) >= 6
    done = await nexus.approve(undo)
    assert done.data("undo_agent_turn")["reversed"] >= 6

    assert await fetch(store, tenant, "contact", temp_id) is None
    assert str((await fetch(store, tenant, "deal", deal.id)).amount) == "100.00"
    back = await fetch(store, tenant, "company", doomed.id)
    assert (back.name, back.domain) == ("Globex", "globex.test")
    assert (await fetch(store, tenant, "contact", staff.id)).company_id == doomed.id
    assert await rows(store, tenant, "SELECT id FROM taggings WHERE tenant_id = :tenant") == []
    # The re-created company is findable again: its blind index was rebuilt.
    found = await nexus.run(("search_companies", {"q": "globex"}))
    assert [c["id"] for c in found.data("search_companies")["items"]] == [str(doomed.id)]

    audit = await audit_rows(store, tenant, undo.run_id)
    plain = {r for r in audit if r[0] not in ("search_tokens", "approval_requests")}
    assert {(table, action) for table, action, _ in plain} == {
        ("contacts", "delete"),  # its subject key is kept, as a plain delete keeps it
        ("deals", "update"),
        ("taggings", "delete"),
        ("tags", "delete"),
        ("companies", "insert"),
        ("contacts", "update"),
    }
    assert ("companies", "insert", doomed.id) in plain
    assert ("contacts", "update", staff.id) in plain


@covers("undo_agent_turn")
async def test_undo_refuses_when_a_person_changed_a_record_since(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    tenant = workspace.tenant
    deal = await make(store, tenant, "deal", name="Renewal", amount=100)
    other = await make(store, tenant, "deal", name="Other", amount=5)
    turn = await nexus.run(
        ("update_deal", {"id": str(deal.id), "changes": {"amount": "250"}}),
        ("update_deal", {"id": str(other.id), "changes": {"amount": "6"}}),
    )
    person = Nexus(store, tenant, role="member")  # a teammate edits the deal afterwards
    await person.run(("update_deal", {"id": str(deal.id), "changes": {"amount": "300"}}))

    undo = await nexus.run(("undo_agent_turn", {"run_id": str(turn.run_id)}))
    assert list(undo.paused.metadata["call-0"]["preview"]["conflicts"]) == [f"deals/{deal.id}"]
    refused = await nexus.approve(undo)
    assert refused.result("undo_agent_turn").outcome == "retried"
    assert str((await fetch(store, tenant, "deal", deal.id)).amount) == "300.00"
    assert str((await fetch(store, tenant, "deal", other.id)).amount) == "6.00"

    partial = await nexus.run(
        ("undo_agent_turn", {"run_id": str(turn.run_id), "skip_conflicts": True})
    )
    result = (await nexus.approve(partial)).data("undo_agent_turn")
    assert result["reversed"] == 1 and list(result["skipped_conflicts"]) == [f"deals/{deal.id}"]
    assert str((await fetch(store, tenant, "deal", deal.id)).amount) == "300.00"
    assert str((await fetch(store, tenant, "deal", other.id)).amount) == "5.00"


@covers("erase_contact", "export_contact")
async def test_export_then_erase_a_contact(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    tenant = workspace.tenant
    person = await make(store, tenant, "contact", first_name="Erin", email="erin@x.test")
    call = await make(
        store, tenant, "activity", record_type="contact", record_id=person.id, body="Called"
    )
    exported = await nexus.run(("export_contact", {"contact_id": str(person.id)}))
    document = exported.data("export_contact")
    assert document["contact"]["email"] == "erin@x.test"
    assert [a["id"] for a in document["activities"]] == [str(call.id)]
    # The export itself is recorded: an activity on the contact, written as the agent.
    access = await audit_rows(store, tenant, exported.run_id)
    assert [(t, a) for t, a, _ in access] == [("activities", "insert")]
    (export_note,) = [r for _, _, r in access]

    turn = await nexus.run(("erase_contact", {"contact_id": str(person.id), "reason": "asked"}))
    assert turn.paused is not None and await fetch(store, tenant, "contact", person.id)
    done = await nexus.approve(turn)
    assert done.data("erase_contact")["key_shredded"] is True
    assert await fetch(store, tenant, "contact", person.id) is None
    assert await fetch(store, tenant, "activity", call.id) is None
    audit = await audit_rows(store, tenant, turn.run_id)
    assert {r for r in audit if r[0] != "approval_requests"} == {
        ("contacts", "erase", person.id),
        ("activities", "delete", call.id),
        ("activities", "delete", export_note),
        ("search_tokens", "delete", person.id),
        ("subject_keys", "delete", person.id),
    }


@covers("define_custom_field", "list_custom_fields")
async def test_define_a_custom_field_and_use_it_next_turn(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    turn = await nexus.run(
        (
            "define_custom_field",
            {
                "entity": "deal",
                "key": "renewal_month",
                "label": "Renewal month",
                "type": "select",
                "options": ["June", "December"],
            },
        )
    )
    assert turn.data("define_custom_field")["options"] == ["June", "December"]
    (definition,) = await rows(
        store, workspace.tenant, "SELECT id FROM custom_field_definitions WHERE tenant_id = :tenant"
    )
    assert await audit_rows(store, workspace.tenant, turn.run_id) == {
        ("custom_field_definitions", "insert", definition.id)
    }
    listed = await nexus.run(("list_custom_fields", {"entity": "deal"}))
    assert [f["key"] for f in listed.data("list_custom_fields")["deal"]] == ["renewal_month"]
    made = await nexus.run(
        ("create_deal", {"name": "Renewal", "custom": {"renewal_month": "June"}})
    )
    assert made.data("create_deal")["custom"] == {"renewal_month": "June"}


@covers("define_custom_field")
async def test_reserved_custom_field_keys_are_refused(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    turn = await nexus.run(
        ("define_custom_field", {"entity": "deal", "key": "tenant_id", "label": "Sneaky"})
    )
    assert turn.result("define_custom_field").outcome == "retried"
    assert await audit_rows(store, workspace.tenant, turn.run_id) == set()


async def test_a_fresh_contact_id_has_no_history(nexus: Nexus) -> None:
    turn = await nexus.run(
        ("record_history", {"record_type": "contact", "record_id": str(uuid.uuid4())})
    )
    assert turn.data("record_history") == []


@covers("undo_agent_turn")
async def test_undo_after_a_key_rotation_leaves_the_contact_readable(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    """The agent's update re-wraps the contact's key under the new data key; undoing the update
    restores the values, never the old key version (the trail does not hold the wrapped key)."""
    tenant = workspace.tenant
    person = await make(store, tenant, "contact", first_name="Rota", title="Engineer")
    assert await tenants.rotate_data_key(store, tenant, actor="system:test") == 2
    turn = await nexus.run(("update_contact", {"id": str(person.id), "changes": {"title": "CTO"}}))
    assert ("subject_keys", "update", person.id) in await audit_rows(store, tenant, turn.run_id)

    undo = await nexus.run(("undo_agent_turn", {"run_id": str(turn.run_id)}))
    await nexus.approve(undo)
    back = await fetch(store, tenant, "contact", person.id)
    assert (back.first_name, back.title) == ("Rota", "Engineer")


@covers("merge_contacts", "erase_contact", "undo_agent_turn")
async def test_erasing_a_merged_person_erases_what_was_written_under_the_duplicate_too(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    tenant = workspace.tenant
    keep = await make(store, tenant, "contact", first_name="Ann", last_name="Keeper")
    dup = await make(store, tenant, "contact", first_name="Ann", last_name="Duplicated")
    await make(store, tenant, "note", record_type="contact", record_id=dup.id, body="Dup's note")
    # An approval that quotes the duplicate, denied: it stays about the duplicate.
    denied = await nexus.run(("delete_contact", {"id": str(dup.id)}))
    await nexus.approve(denied, approve=False)
    merged = await nexus.run(
        ("merge_contacts", {"keep_id": str(keep.id), "duplicate_id": str(dup.id)})
    )
    await nexus.approve(merged)
    assert await fetch(store, tenant, "contact", dup.id) is None

    erased = await nexus.run(("erase_contact", {"contact_id": str(keep.id)}))
    await nexus.approve(erased)
    # The records, the note, the merge and erase approvals' previews (sealed under the
    # person's key) and every event about them read [erased]: nothing in the trail quotes her.
    events = await _events(store, tenant)
    for written in ("Keeper", "Duplicated", "Dup's note"):
        assert {e["table_name"] for e in events if written in str(e)} == set(), written
    approvals = [e for e in events if e["table_name"] == "approval_requests"]
    assert {e["after"]["snapshot"] for e in approvals if e["action"] == "insert"} == {ERASED}
    assert [e["after"]["state"] for e in approvals if e["action"] == "update"] == [
        "denied", "approved", "executed", "approved", "executed"
    ]  # fmt: skip
    assert (
        await rows(store, tenant, "SELECT id FROM approval_requests WHERE tenant_id = :tenant")
        == []
    )


@covers("merge_contacts", "undo_agent_turn")
async def test_undoing_a_merge_unties_the_duplicates_key(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    tenant = workspace.tenant
    keep = await make(store, tenant, "contact", first_name="Ann", last_name="Keeper")
    dup = await make(store, tenant, "contact", first_name="Ann", last_name="Other")
    note = await make(store, tenant, "note", record_type="contact", record_id=dup.id, body="Hers")
    merged = await nexus.run(
        ("merge_contacts", {"keep_id": str(keep.id), "duplicate_id": str(dup.id)})
    )
    await nexus.approve(merged)
    undo = await nexus.run(("undo_agent_turn", {"run_id": str(merged.run_id)}))
    await nexus.approve(undo)
    restored = await fetch(store, tenant, "note", note.id)
    assert (restored.body, restored.record_id) == ("Hers", dup.id)

    # Two people again: erasing the survivor leaves the restored contact and her note alone.
    erased = await nexus.run(("erase_contact", {"contact_id": str(keep.id)}))
    await nexus.approve(erased)
    assert (await fetch(store, tenant, "contact", dup.id)).last_name == "Other"
    assert (await fetch(store, tenant, "note", note.id)).body == "Hers"


async def _events(store: Store, tenant: uuid.UUID) -> list[dict[str, Any]]:
    exported = [json.loads(line) async for line in export_trail(store, tenant)]
    return [e for e in exported if e["type"] == "event"]


@covers("undo_agent_turn", "delete_note")
async def test_undo_does_not_bring_back_what_was_written_about_an_erased_person(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    tenant = workspace.tenant
    ada = await make(store, tenant, "contact", first_name="Ada")
    note = await make(store, tenant, "note", record_type="contact", record_id=ada.id, body="Hers")
    deleted = await nexus.run(("delete_note", {"id": str(note.id)}))
    await nexus.approve(deleted)
    erased = await nexus.run(("erase_contact", {"contact_id": str(ada.id)}))
    await nexus.approve(erased)

    undo = await nexus.run(("undo_agent_turn", {"run_id": str(deleted.run_id)}))
    preview = undo.paused.metadata["call-0"]["preview"]
    assert preview["changes_to_reverse"] == []
    assert [n for n in preview["not_undoable"] if "was erased" in n] == [
        f"delete of notes {note.id}: the person it is about was erased"
    ]
    await nexus.approve(undo)
    assert await fetch(store, tenant, "note", note.id) is None
    listed = await nexus.run(("search_notes", {}))
    assert listed.data("search_notes")["items"] == []


@covers("undo_agent_turn")
async def test_undoing_a_contacts_creation_keeps_what_people_wrote_about_it_readable(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    """The note a person added is sealed under the contact's key: undo removes the contact the
    agent created but keeps its key, so the note still opens (and lists)."""
    tenant = workspace.tenant
    created = await nexus.run(("create_contact", {"first_name": "Agent", "last_name": "Made"}))
    contact_id = created.data("create_contact")["id"]
    note = await make(
        store, tenant, "note", record_type="contact", record_id=contact_id, body="Met her"
    )
    undo = await nexus.run(("undo_agent_turn", {"run_id": str(created.run_id)}))
    await nexus.approve(undo)
    assert await fetch(store, tenant, "contact", contact_id) is None
    assert (await fetch(store, tenant, "note", note.id)).body == "Met her"
    listed = await nexus.run(("search_notes", {}))
    assert [n["body"] for n in listed.data("search_notes")["items"]] == ["Met her"]
