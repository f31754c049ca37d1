"""Crypto-shredding one contact: its subject key goes, and every copy of its ciphertext is dead."""

import pytest

import tests.conftest as base
from store.crypto.aead import Place, unseal
from store.entities import BY_NAME
from store.errors import DecryptionFailed
from store.runtime import Store
from store.services import records
from tests.conftest import MakeWorkspace
from tests.store.crypto.conftest import ACTOR, superuser_rows

SEALED = ("first_name", "last_name", "email", "phone", "notes")


async def test_shredding_a_subject_key_kills_that_contact_only(
    store: Store, test_db: base.TestDatabase, make_workspace: MakeWorkspace
) -> None:
    tenant = await make_workspace("Shredding")
    async with store.tenant_session(tenant, ACTOR) as ts:
        made = [
            await records.create_record(
                ts,
                BY_NAME["contact"],
                {
                    "first_name": name,
                    "last_name": "Erasmus",
                    "email": f"{name.lower()}@erase.example",
                    "phone": f"+1 555 {i:04d}",
                    "notes": f"{name} asked to be forgotten" if i == 0 else "stays",
                },
            )
            for i, name in enumerate(("Forgotten", "Remembered", "Recalled"))
        ]
    erased, others = made[0].id, [c.id for c in made[1:]]  # type: ignore[attr-defined]
    # What a backup, a replica or a nosy administrator kept of the contact before erasure.
    kept = dict(
        zip(
            SEALED,
            superuser_rows(
                test_db, f"SELECT {', '.join(SEALED)} FROM contacts WHERE id = %s", erased
            )[0],
            strict=True,
        )
    )

    async with store.tenant_session(tenant, ACTOR) as ts:
        assert await store.keyring.shred_subject_key(ts, erased) is True
        assert await store.keyring.shred_subject_key(ts, erased) is False

    async with store.tenant_session(tenant, ACTOR) as ts:
        with pytest.raises(DecryptionFailed, match="erased"):
            await records.get_record(ts, BY_NAME["contact"], erased)
        for other in others:
            assert (await records.get_record(ts, BY_NAME["contact"], other)).last_name == "Erasmus"  # type: ignore[attr-defined]
        # Every key this workspace still has, data keys and the other contacts' subject keys,
        # fails on the kept ciphertext.
        candidates = [await store.keyring.data_key(ts, 1)]
        candidates += [k.key for k in (await store.keyring.subject_keys(ts, others)).values()]
        assert len(candidates) == 3
    assert superuser_rows(test_db, "SELECT count(*) FROM subject_keys WHERE id = %s", erased) == [
        (0,)
    ]
    for column, blob in kept.items():
        place = Place(tenant, "contacts", column, erased)
        for key in candidates:
            with pytest.raises(DecryptionFailed):
                unseal(key, blob, place=place)
