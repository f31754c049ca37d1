"""What someone holding the raw database sees: no plaintext of any CRM field, anywhere.

The scan reads every column of every table as the superuser, so tables added later (the audit
trail, whatever comes next) are covered without touching this test.
"""

import secrets
import uuid

from sqlalchemy import insert

import tests.conftest as base
from store.crypto.aead import KeyKind, read_header
from store.entities import BY_NAME
from store.models import CustomFieldDefinition
from store.runtime import Store
from store.services import records, tenants
from tests.store.crypto.conftest import ACTOR, superuser_rows, superuser_scan

CONTACT = {
    "first_name": "Quorvexa",
    "last_name": "Zanthelmby",
    "email": "Quorvexa.Zanthelmby@Blinkmail.example",
    "phone": "+44 20 7946 0958",
    "title": "Chief Xylophonist",
    "notes": "Prefers carrier pigeons; allergic to Brambleshire walnuts",
}
COMPANY = {
    "name": "Pelliwinkle Gyroscopes",
    "domain": "pelliwinkle-gyro.example",
    "industry": "Precision Wobbling",
    "phone": "+1 555 0199 4242",
    "address": "17 Frobisher Quay, Lowmarsh",
    "notes": "Their CFO distrusts Trundlesworth spreadsheets",
}
DEAL = {"name": "Moonraker Fjord Expansion", "notes": "Budget thaws in Quintember"}
NOTE = {"body": "Mentioned a knee operation at Saint Brevik hospital"}
HOBBY = "competitive yodelbridge"

# Whole values, their normalised forms (what a blind index hashes) and their distinctive words.
PLAINTEXTS = [
    *CONTACT.values(),
    *COMPANY.values(),
    *DEAL.values(),
    *NOTE.values(),
    HOBBY,
    "quorvexa",
    "zanthelmby",
    "quorvexa.zanthelmby@blinkmail.example",
    "+442079460958",
    "2079460958",
    "Xylophonist",
    "Brambleshire",
    "Pelliwinkle",
    "pelliwinkle-gyro",
    "+155501994242",
    "Frobisher",
    "Lowmarsh",
    "Trundlesworth",
    "Moonraker",
    "Quintember",
    "Brevik",
    "yodelbridge",
]


async def _seed(store: Store, tenant: uuid.UUID) -> dict[str, uuid.UUID]:
    async with store.tenant_session(tenant, ACTOR) as ts:
        await ts.db.execute(
            insert(CustomFieldDefinition.__table__).values(  # pyright: ignore[reportAttributeAccessIssue]
                tenant_id=tenant,
                id=uuid.uuid4(),
                entity="contact",
                key="hobby",
                label="Hobby",
                type="text",
            )
        )
        company = await records.create_record(ts, BY_NAME["company"], COMPANY)
        contact = await records.create_record(
            ts,
            BY_NAME["contact"],
            {**CONTACT, "company_id": company.id, "custom": {"hobby": HOBBY}},  # type: ignore[attr-defined]
        )
        deal = await records.create_record(
            ts,
            BY_NAME["deal"],
            {**DEAL, "company_id": company.id, "contact_id": contact.id},  # type: ignore[attr-defined]
        )
        note = await records.create_record(
            ts,
            BY_NAME["note"],
            {**NOTE, "record_type": "contact", "record_id": contact.id},  # type: ignore[attr-defined]
        )
        # Exercise updates and the search index too, so every write path is in the scan.
        await records.update_record(ts, BY_NAME["contact"], contact.id, {"title": CONTACT["title"]})  # type: ignore[attr-defined]
        found = await records.list_records(ts, BY_NAME["contact"], q="quorv zanth")
        assert [c.id for c in found.items] == [contact.id]  # type: ignore[attr-defined]
    return {"companies": company.id, "contacts": contact.id, "deals": deal.id, "notes": note.id}  # type: ignore[attr-defined]


async def test_no_plaintext_in_any_column_of_any_table(
    store: Store, test_db: base.TestDatabase
) -> None:
    witness = f"Scanwitness {secrets.token_hex(6)}"
    created = await tenants.create_workspace(
        store,
        name=witness,
        owner_email=f"owner-{secrets.token_hex(4)}@example.com",
        actor="system:test",
    )
    ids = await _seed(store, created.tenant_id)
    async with store.tenant_session(created.tenant_id, ACTOR) as ts:
        back = await records.get_record(ts, BY_NAME["contact"], ids["contacts"])
    assert back.email == CONTACT["email"] and back.custom == {"hobby": HOBBY}  # type: ignore[attr-defined]

    hits = superuser_scan(test_db, [*PLAINTEXTS, witness])

    # The scanner works: the workspace name is public platform metadata and must be found.
    assert {(h.table, h.column) for h in hits if h.needle == witness.lower()} == {
        ("public.tenants", "name")
    }
    leaks = [h for h in hits if h.needle != witness.lower()]
    assert leaks == [], f"plaintext found in the database: {leaks}"


async def test_sealed_columns_hold_flowgrid_envelopes(
    store: Store, test_db: base.TestDatabase
) -> None:
    tenant = (
        await tenants.create_workspace(
            store, name="Envelope check", owner_email="env@example.com", actor="system:test"
        )
    ).tenant_id
    ids = await _seed(store, tenant)
    plaintext_of = {"contacts": CONTACT, "companies": COMPANY, "deals": DEAL, "notes": NOTE}
    for table, record_id in ids.items():
        entity = next(e for e in BY_NAME.values() if e.table_name == table)
        for spec in entity.sealed_fields:
            (blob,) = superuser_rows(
                test_db, f"SELECT {spec.name} FROM {table} WHERE id = %s", record_id
            )[0]
            value = plaintext_of[table].get(spec.name)
            if value is None:
                continue
            header = read_header(blob)  # version | key kind | key version | nonce | ct+tag
            # The contact, and the note about it, are under the contact's subject key.
            about_the_person = table in ("contacts", "notes")
            expected = KeyKind.SUBJECT_KEY if about_the_person else KeyKind.DATA_KEY
            assert (header.kind, header.key_version) == (expected, 1), (table, spec.name)
            assert len(blob) == 6 + 12 + len(value.encode()) + 16, (table, spec.name)
