"""Ciphertext moved by someone with write access to the database fails loudly, never quietly.

Each case copies a sealed value with a superuser UPDATE (bypassing row-level security, as a rogue
administrator or an RLS bug could) and reads the target through the services.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import tests.conftest as base
from store.entities import BY_NAME
from store.errors import DecryptionFailed
from store.runtime import Store
from store.services import records
from tests.conftest import MakeWorkspace
from tests.store.crypto.conftest import ACTOR, superuser_set, superuser_value

Place = tuple[str, str, uuid.UUID]  # table, column, row id


@contextmanager
def _transplanted(test_db: base.TestDatabase, source: Place, target: Place) -> Iterator[bytes]:
    """Copy the value at `source` over `target` for the duration of the block."""
    original = superuser_value(test_db, *target)
    moved = superuser_value(test_db, *source)
    assert moved is not None and moved != original
    superuser_set(test_db, *target, moved)
    try:
        yield moved
    finally:
        superuser_set(test_db, *target, original)


async def _read_fails(store: Store, tenant: uuid.UUID, entity: str, record_id: uuid.UUID) -> str:
    async with store.tenant_session(tenant, ACTOR) as ts:
        with pytest.raises(DecryptionFailed) as failure:
            await records.get_record(ts, BY_NAME[entity], record_id)
        # A listing that reaches the row fails as well, rather than showing anything for it.
        with pytest.raises(DecryptionFailed):
            await records.list_records(ts, BY_NAME[entity], limit=100)
    return failure.value.detail


@pytest.fixture
async def ids(store: Store, make_workspace: MakeWorkspace) -> dict[str, uuid.UUID]:
    """Workspaces a and b; a holds companies/contacts a and a2, b holds company/contact b."""
    a, b = await make_workspace("Transplant A"), await make_workspace("Transplant B")
    made: dict[str, uuid.UUID] = {"a": a, "b": b}
    for tenant, label in ((a, "a"), (a, "a2"), (b, "b")):
        async with store.tenant_session(tenant, ACTOR) as ts:
            company = await records.create_record(
                ts,
                BY_NAME["company"],
                {"name": f"Company {label}", "industry": f"Industry {label}"},
            )
            contact = await records.create_record(
                ts,
                BY_NAME["contact"],
                {
                    "first_name": f"First {label}",
                    "email": f"{label}@example.com",
                    "phone": f"+1 555 {label}",
                },
            )
        made[f"company_{label}"] = company.id  # type: ignore[attr-defined]
        made[f"contact_{label}"] = contact.id  # type: ignore[attr-defined]
    return made


async def test_a_value_moved_to_another_row_fails(
    store: Store, test_db: base.TestDatabase, ids: dict[str, uuid.UUID]
) -> None:
    # Companies share the workspace data key: only the associated data (row id) tells them apart.
    source, target = (
        ("companies", "name", ids["company_a"]),
        ("companies", "name", ids["company_a2"]),
    )
    with _transplanted(test_db, source, target):
        detail = await _read_fails(store, ids["a"], "company", ids["company_a2"])
        assert "companies.name" in detail and "moved" in detail
    source, target = (
        ("contacts", "email", ids["contact_a"]),
        ("contacts", "email", ids["contact_a2"]),
    )
    with _transplanted(test_db, source, target):
        await _read_fails(store, ids["a"], "contact", ids["contact_a2"])


async def test_a_value_moved_to_another_column_fails(
    store: Store, test_db: base.TestDatabase, ids: dict[str, uuid.UUID]
) -> None:
    source, target = (
        ("companies", "name", ids["company_a"]),
        ("companies", "industry", ids["company_a"]),
    )
    with _transplanted(test_db, source, target):
        detail = await _read_fails(store, ids["a"], "company", ids["company_a"])
        assert "companies.industry" in detail
    # Same row, same subject key: only the column in the associated data differs.
    source, target = (
        ("contacts", "email", ids["contact_a"]),
        ("contacts", "phone", ids["contact_a"]),
    )
    with _transplanted(test_db, source, target):
        await _read_fails(store, ids["a"], "contact", ids["contact_a"])


async def test_a_value_moved_from_another_workspace_fails_without_revealing_it(
    store: Store, test_db: base.TestDatabase, ids: dict[str, uuid.UUID]
) -> None:
    for entity, table, column, secret in (
        ("company", "companies", "name", "Company b"),
        ("contact", "contacts", "email", "b@example.com"),
    ):
        source, target = (table, column, ids[f"{entity}_b"]), (table, column, ids[f"{entity}_a"])
        with _transplanted(test_db, source, target):
            detail = await _read_fails(store, ids["a"], entity, ids[f"{entity}_a"])
            assert secret not in detail


async def test_a_value_moved_between_kinds_of_record_fails(
    store: Store, test_db: base.TestDatabase, ids: dict[str, uuid.UUID]
) -> None:
    # A contact's value (sealed under its subject key) dropped into a company row.
    with _transplanted(
        test_db,
        ("contacts", "first_name", ids["contact_a"]),
        ("companies", "name", ids["company_a"]),
    ):
        detail = await _read_fails(store, ids["a"], "company", ids["company_a"])
        assert "sealed for another kind of record" in detail
    # A company's value (sealed under the data key) dropped into a contact row.
    with _transplanted(
        test_db,
        ("companies", "industry", ids["company_a"]),
        ("contacts", "first_name", ids["contact_a"]),
    ):
        await _read_fails(store, ids["a"], "contact", ids["contact_a"])


async def test_a_relabelled_key_version_fails(
    store: Store, test_db: base.TestDatabase, ids: dict[str, uuid.UUID]
) -> None:
    """The header is authenticated too: claiming another key version does not open the value."""
    where = ("companies", "industry", ids["company_b"])
    blob = superuser_value(test_db, *where)
    superuser_set(test_db, *where, blob[:2] + (7).to_bytes(4, "big") + blob[6:])
    detail = await _read_fails(store, ids["b"], "company", ids["company_b"])
    assert "version 7" in detail
    superuser_set(test_db, *where, blob[:1] + b"\x01" + blob[2:])  # claims a subject key
    await _read_fails(store, ids["b"], "company", ids["company_b"])


async def test_values_put_back_read_again(
    store: Store, test_db: base.TestDatabase, ids: dict[str, uuid.UUID]
) -> None:
    """The failures above come from the move: the same bytes in their own place read fine."""
    with _transplanted(
        test_db, ("companies", "name", ids["company_a"]), ("companies", "name", ids["company_a2"])
    ):
        pass
    async with store.tenant_session(ids["a"], ACTOR) as ts:
        company = await records.get_record(ts, BY_NAME["company"], ids["company_a2"])
        contact = await records.get_record(ts, BY_NAME["contact"], ids["contact_a"])
    assert company.name == "Company a2"  # type: ignore[attr-defined]
    assert contact.email == "a@example.com"  # type: ignore[attr-defined]
