"""What is written about a person is sealed under that person's key, and follows the link.

Notes and activities declare `sealed_under(KeyedBy.LINKED_CONTACT)`: linked to a contact they
are sealed under the contact's subject key, otherwise under the workspace data key. The raw
header of each stored value is read as the superuser, so these tests see what is stored, not what
the services say they stored.
"""

import asyncio
import uuid

import pytest

import tests.conftest as base
from store.audit.export import export_trail
from store.audit.opener import ERASED
from store.crypto.aead import KeyKind, read_header
from store.entities import BY_NAME
from store.errors import DecryptionFailed, NotFound
from store.models import metadata
from store.models.base import KeyedBy, keyed_by
from store.runtime import Store
from store.services import gdpr, merge, records
from tests.conftest import MakeWorkspace
from tests.store.crypto.conftest import ACTOR, superuser_execute, superuser_value

NOTE, ACTIVITY, CONTACT, COMPANY = (BY_NAME[n] for n in ("note", "activity", "contact", "company"))


def _kind(test_db: base.TestDatabase, table: str, column: str, row_id: uuid.UUID) -> KeyKind:
    return read_header(bytes(superuser_value(test_db, table, column, row_id))).kind


async def _trail_text(store: Store, tenant: uuid.UUID) -> str:
    return "".join([line async for line in export_trail(store, tenant)])


async def _people(store: Store, tenant: uuid.UUID, *names: str) -> list[uuid.UUID]:
    async with store.tenant_session(tenant, ACTOR) as ts:
        made = [
            await records.create_record(ts, CONTACT, {"first_name": n, "last_name": "Linked"})
            for n in names
        ]
    return [m.id for m in made]  # type: ignore[attr-defined]


async def _erase(store: Store, tenant: uuid.UUID, contact: uuid.UUID) -> None:
    async with store.tenant_session(tenant, ACTOR, role="admin") as ts:
        await gdpr.erase_contact(ts, contact)


async def test_a_note_or_activity_about_a_contact_is_sealed_under_that_contacts_key(
    store: Store, test_db: base.TestDatabase, make_workspace: MakeWorkspace
) -> None:
    tenant = await make_workspace()
    (ada,) = await _people(store, tenant, "Ada")
    async with store.tenant_session(tenant, ACTOR) as ts:
        company = await records.create_record(ts, COMPANY, {"name": "Acme"})
        on_ada = {"record_type": "contact", "record_id": ada}
        on_acme = {"record_type": "company", "record_id": company.id}  # type: ignore[attr-defined]
        note = await records.create_record(ts, NOTE, {"body": "Ada's note", **on_ada})
        activity = await records.create_record(ts, ACTIVITY, {"subject": "Call Ada", **on_ada})
        company_note = await records.create_record(ts, NOTE, {"body": "Acme note", **on_acme})
        loose_note = await records.create_record(ts, NOTE, {"body": "About nobody"})
        task = await records.create_record(ts, BY_NAME["task"], {"title": "Ring Ada", **on_ada})

    assert _kind(test_db, "notes", "body", note.id) is KeyKind.SUBJECT_KEY  # type: ignore[attr-defined]
    assert _kind(test_db, "activities", "subject", activity.id) is KeyKind.SUBJECT_KEY  # type: ignore[attr-defined]
    for table, column, row in (
        ("notes", "body", company_note),
        ("notes", "body", loose_note),
        ("tasks", "title", task),  # tasks are the team's work, kept after an erasure
    ):
        assert _kind(test_db, table, column, row.id) is KeyKind.DATA_KEY, table  # type: ignore[attr-defined]

    async with store.tenant_session(tenant, ACTOR) as ts:
        read = await records.get_record(ts, NOTE, note.id)  # type: ignore[attr-defined]
        assert read.body == "Ada's note"  # type: ignore[attr-defined]
        listed = await records.list_records(ts, NOTE)
        assert sorted(n.body for n in listed.items) == ["About nobody", "Acme note", "Ada's note"]  # type: ignore[attr-defined]


async def test_relinking_a_note_moves_it_to_the_new_persons_key(
    store: Store, test_db: base.TestDatabase, make_workspace: MakeWorkspace
) -> None:
    tenant = await make_workspace()
    ada, bob = await _people(store, tenant, "Ada", "Bob")
    async with store.tenant_session(tenant, ACTOR) as ts:
        note = await records.create_record(
            ts, NOTE, {"body": "Moved along", "record_type": "contact", "record_id": ada}
        )
        note_id = note.id  # type: ignore[attr-defined]
        await records.update_record(ts, NOTE, note_id, {"record_type": "contact", "record_id": bob})

    # Erasing the person it used to be about leaves it readable: it is Bob's now.
    await _erase(store, tenant, ada)
    async with store.tenant_session(tenant, ACTOR) as ts:
        read = await records.get_record(ts, NOTE, note_id)
        assert (read.body, read.record_id) == ("Moved along", bob)  # type: ignore[attr-defined]
    assert "Moved along" in await _trail_text(store, tenant)

    # Erasing Bob takes it with him, the live row and every event about it.
    async with store.tenant_session(tenant, ACTOR) as ts:
        await records.update_record(ts, NOTE, note_id, {"body": "Still about Bob"})
    await _erase(store, tenant, bob)
    trail = await _trail_text(store, tenant)
    assert "Moved along" not in trail and "Still about Bob" not in trail
    assert ERASED in trail


async def test_unlinking_a_note_from_a_person_reseals_it_under_the_workspace_key(
    store: Store, test_db: base.TestDatabase, make_workspace: MakeWorkspace
) -> None:
    tenant = await make_workspace()
    (ada,) = await _people(store, tenant, "Ada")
    async with store.tenant_session(tenant, ACTOR) as ts:
        company = await records.create_record(ts, COMPANY, {"name": "Acme"})
        note = await records.create_record(
            ts, NOTE, {"body": "Pricing policy", "record_type": "contact", "record_id": ada}
        )
        note_id = note.id  # type: ignore[attr-defined]
        on_acme = {"record_type": "company", "record_id": company.id}  # type: ignore[attr-defined]
        await records.update_record(ts, NOTE, note_id, on_acme)
    assert _kind(test_db, "notes", "body", note_id) is KeyKind.DATA_KEY

    await _erase(store, tenant, ada)
    async with store.tenant_session(tenant, ACTOR) as ts:
        assert (await records.get_record(ts, NOTE, note_id)).body == "Pricing policy"  # type: ignore[attr-defined]


async def test_merging_contacts_reseals_the_duplicates_notes_for_the_survivor(
    store: Store, test_db: base.TestDatabase, make_workspace: MakeWorkspace
) -> None:
    tenant = await make_workspace()
    keep, duplicate = await _people(store, tenant, "Keep", "Duplicate")
    async with store.tenant_session(tenant, ACTOR) as ts:
        note = await records.create_record(
            ts,
            NOTE,
            {"body": "From the duplicate", "record_type": "contact", "record_id": duplicate},
        )
        note_id = note.id  # type: ignore[attr-defined]
        await merge.merge_records(ts, CONTACT, keep, duplicate)
    async with store.tenant_session(tenant, ACTOR) as ts:
        moved = await records.get_record(ts, NOTE, note_id)
        assert (moved.body, moved.record_id) == ("From the duplicate", keep)  # type: ignore[attr-defined]

    await _erase(store, tenant, keep)
    assert "From the duplicate" not in await _trail_text(store, tenant)


async def test_a_value_sealed_under_the_workspace_key_before_the_link_still_opens(
    store: Store, test_db: base.TestDatabase, make_workspace: MakeWorkspace
) -> None:
    """Rows written before notes were keyed by their link hold DEK values: they stay readable,
    but a value that claims a subject key on a row about nobody is refused."""
    tenant = await make_workspace()
    (ada,) = await _people(store, tenant, "Ada")
    async with store.tenant_session(tenant, ACTOR) as ts:
        legacy = await records.create_record(ts, NOTE, {"body": "Written long ago"})
        about_ada = await records.create_record(
            ts, NOTE, {"body": "About Ada", "record_type": "contact", "record_id": ada}
        )
    legacy_id, about_ada_id = legacy.id, about_ada.id  # type: ignore[attr-defined]
    # What an older version wrote: the link set, the value still under the data key.
    superuser_execute(
        test_db,
        tenant,
        "UPDATE notes SET record_type = 'contact', record_id = %s WHERE id = %s",
        ada,
        legacy_id,
    )
    # And a row about Ada whose link is cut behind the services' back.
    superuser_execute(
        test_db,
        tenant,
        "UPDATE notes SET record_type = NULL, record_id = NULL WHERE id = %s",
        about_ada_id,
    )
    async with store.tenant_session(tenant, ACTOR) as ts:
        assert (await records.get_record(ts, NOTE, legacy_id)).body == "Written long ago"  # type: ignore[attr-defined]
        with pytest.raises(DecryptionFailed, match="sealed for another kind of record"):
            await records.get_record(ts, NOTE, about_ada_id)


async def test_nothing_new_can_be_sealed_for_an_erased_person(
    store: Store, make_workspace: MakeWorkspace
) -> None:
    """The services refuse a link to a missing contact first; the sealer refuses on its own too."""
    tenant = await make_workspace()
    (ada,) = await _people(store, tenant, "Ada")
    await _erase(store, tenant, ada)
    about_ada = {"body": "After", "record_type": "contact", "record_id": ada}
    async with store.tenant_session(tenant, ACTOR) as ts:
        with pytest.raises(DecryptionFailed, match=f"the contact this note is about .{ada}"):
            await ts.sealer.key_for_new(ts, NOTE, uuid.uuid4(), about_ada)


async def test_an_erasure_waits_for_a_note_being_written_about_the_person(
    store: Store, make_workspace: MakeWorkspace
) -> None:
    """A note sealed under a key that an erasure is about to shred must not slip past it: the
    note's link holds the contact FOR SHARE until it commits, so the erasure (which locks the
    contact FOR UPDATE first) waits, then sees the note and deletes it with the person."""
    tenant = await make_workspace()
    (ada,) = await _people(store, tenant, "Ada")
    about_ada = {"body": "Written meanwhile", "record_type": "contact", "record_id": ada}
    async with store.tenant_session(tenant, ACTOR) as writing:
        note = await records.create_record(writing, NOTE, about_ada)
        erasure = asyncio.create_task(_erase(store, tenant, ada))
        await asyncio.sleep(0.5)  # the erasure starts while the note is not committed yet
        assert not erasure.done()
    await erasure
    async with store.tenant_session(tenant, ACTOR) as ts:
        with pytest.raises(NotFound):  # not a live row sealed under a shredded key
            await records.get_record(ts, NOTE, note.id)  # type: ignore[attr-defined]


def test_every_table_keyed_by_its_contact_link_has_the_link_columns() -> None:
    """Erasure and the sealer read `record_type`/`record_id` of these tables; a table declared
    LINKED_CONTACT without them would fail only when someone erases a person."""
    linked = [t for t in metadata.sorted_tables if keyed_by(t) is KeyedBy.LINKED_CONTACT]
    assert {t.name for t in linked} == {"notes", "activities", "approval_requests"}
    for table in linked:
        assert {"record_type", "record_id"} <= set(table.c.keys()), table.name
        assert "contact" in table.c.record_type.info["choices"], table.name
