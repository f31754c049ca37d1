"""Data key rotation: old rows stay readable, new writes and re-sealed values carry the new version."""

import uuid
from pathlib import Path

import tests.conftest as base
from store.crypto.aead import KeyKind, read_header
from store.crypto.providers import LocalKeyProvider
from store.entities import BY_NAME
from store.runtime import Store
from store.services import records, tenants
from tests.conftest import MakeWorkspace
from tests.store.crypto.conftest import ACTOR, superuser_rows, superuser_value


def _header(
    test_db: base.TestDatabase, table: str, column: str, row_id: uuid.UUID
) -> tuple[KeyKind, int]:
    header = read_header(superuser_value(test_db, table, column, row_id))
    return header.kind, header.key_version


def _subject_key_version(test_db: base.TestDatabase, contact: uuid.UUID) -> int:
    ((version,),) = superuser_rows(
        test_db, "SELECT key_version FROM subject_keys WHERE id = %s", contact
    )
    return version


async def _create(store: Store, tenant: uuid.UUID, label: str) -> tuple[uuid.UUID, uuid.UUID]:
    async with store.tenant_session(tenant, ACTOR) as ts:
        contact = await records.create_record(
            ts,
            BY_NAME["contact"],
            {"first_name": f"Ada {label}", "email": f"{label}@rotate.example"},
        )
        company = await records.create_record(ts, BY_NAME["company"], {"name": f"Rotors {label}"})
    return contact.id, company.id  # type: ignore[attr-defined]


async def test_rotation_keeps_old_rows_readable_and_seals_new_writes_under_the_new_version(
    store: Store, test_db: base.TestDatabase, keystore: Path, make_workspace: MakeWorkspace
) -> None:
    tenant = await make_workspace("Rotating")
    old_contact, old_company = await _create(store, tenant, "old")
    assert _header(test_db, "contacts", "email", old_contact) == (KeyKind.SUBJECT_KEY, 1)
    assert _header(test_db, "companies", "name", old_company) == (KeyKind.DATA_KEY, 1)

    assert await tenants.rotate_data_key(store, tenant, actor=ACTOR) == 2
    wrapped = superuser_rows(
        test_db,
        "SELECT key_version, wrapped FROM data_keys WHERE tenant_id = %s ORDER BY 1",
        tenant,
    )
    assert [v for v, _ in wrapped] == [1, 2] and wrapped[0][1] != wrapped[1][1]

    new_contact, new_company = await _create(store, tenant, "new")
    assert _header(test_db, "contacts", "email", new_contact) == (KeyKind.SUBJECT_KEY, 2)
    assert _subject_key_version(test_db, new_contact) == 2
    assert _header(test_db, "companies", "name", new_company) == (KeyKind.DATA_KEY, 2)

    async with store.tenant_session(tenant, ACTOR) as ts:
        await records.update_record(ts, BY_NAME["contact"], old_contact, {"title": "Engineer"})
        await records.update_record(ts, BY_NAME["company"], old_company, {"name": "Rotors renamed"})
    # The re-sealed values carry the new version; the contact's key is now wrapped by it.
    assert _header(test_db, "contacts", "title", old_contact) == (KeyKind.SUBJECT_KEY, 2)
    assert _subject_key_version(test_db, old_contact) == 2
    assert _header(test_db, "companies", "name", old_company) == (KeyKind.DATA_KEY, 2)
    # Values the update did not touch keep their old header and still open.
    assert _header(test_db, "contacts", "email", old_contact) == (KeyKind.SUBJECT_KEY, 1)

    # A process with a cold cache reads every row, old and new, from the database alone.
    cold = Store(test_db.urls, LocalKeyProvider(keystore), pool_size=2)
    try:
        async with cold.tenant_session(tenant, ACTOR) as ts:
            contacts = {
                c.id: (c.email, c.title)  # type: ignore[attr-defined]
                for c in (await records.list_records(ts, BY_NAME["contact"], limit=10)).items
            }
            companies = {
                c.id: c.name  # type: ignore[attr-defined]
                for c in (await records.list_records(ts, BY_NAME["company"], limit=10)).items
            }
            found = await records.list_records(
                ts, BY_NAME["contact"], filters={"email": "old@rotate.example"}
            )
    finally:
        await cold.close()
    assert contacts == {
        old_contact: ("old@rotate.example", "Engineer"),
        new_contact: ("new@rotate.example", None),
    }
    assert companies == {old_company: "Rotors renamed", new_company: "Rotors new"}
    # The blind index does not change with rotation: rows written before it are still found.
    assert [c.id for c in found.items] == [old_contact]  # type: ignore[attr-defined]
