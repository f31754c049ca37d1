"""The generic record services, on every CRM entity, against the real database."""

import uuid

import pytest

from store.entities import BY_NAME, ENTITIES
from store.errors import Conflict, Forbidden, InvalidInput, NotFound
from store.runtime import Store
from store.services import records
from tests.conftest import MakeWorkspace

ACTOR = "member:test"


async def _stage_id(store: Store, tenant: uuid.UUID) -> uuid.UUID:
    async with store.tenant_session(tenant, ACTOR) as ts:
        page = await records.list_records(ts, BY_NAME["stage"], sort="position", limit=1)
    return page.items[0].id  # type: ignore[attr-defined]


async def test_contact_round_trip(store: Store, make_workspace: MakeWorkspace) -> None:
    tenant = await make_workspace()
    contacts = BY_NAME["contact"]
    async with store.tenant_session(tenant, ACTOR) as ts:
        created = await records.create_record(
            ts, contacts, {"first_name": "Jane", "last_name": "Doe", "email": "jane@acme.test"}
        )
    async with store.tenant_session(tenant, ACTOR) as ts:
        fetched = await records.get_record(ts, contacts, created.id)  # type: ignore[attr-defined]
        assert fetched.model_dump() == created.model_dump()
        updated = await records.update_record(
            ts,
            contacts,
            created.id,
            {"title": "CTO"},
            expected_version=1,  # type: ignore[attr-defined]
        )
        assert (updated.title, updated.version, updated.first_name) == ("CTO", 2, "Jane")  # type: ignore[attr-defined]
        with pytest.raises(Conflict):
            await records.update_record(
                ts, contacts, created.id, {"title": "CEO"}, expected_version=1
            )  # type: ignore[attr-defined]
        await records.delete_record(ts, contacts, created.id)  # type: ignore[attr-defined]
        with pytest.raises(NotFound):
            await records.get_record(ts, contacts, created.id)  # type: ignore[attr-defined]


async def test_validation_errors_are_domain_errors(
    store: Store, make_workspace: MakeWorkspace
) -> None:
    tenant = await make_workspace()
    async with store.tenant_session(tenant, ACTOR) as ts:
        with pytest.raises(InvalidInput, match="name"):
            await records.create_record(ts, BY_NAME["company"], {})
        with pytest.raises(InvalidInput, match="status"):
            await records.create_record(ts, BY_NAME["deal"], {"name": "X", "status": "maybe"})
        with pytest.raises(InvalidInput, match="company_id"):
            await records.create_record(ts, BY_NAME["contact"], {"company_id": str(uuid.uuid4())})
        with pytest.raises(InvalidInput, match="cursor"):
            await records.list_records(ts, BY_NAME["contact"], cursor="not-a-cursor")
        # The transaction is still usable after the refused writes (they ran in savepoints).
        await records.create_record(ts, BY_NAME["company"], {"name": "Still fine"})


async def test_every_entity_supports_create_list_update_delete(
    store: Store, make_workspace: MakeWorkspace
) -> None:
    tenant = await make_workspace()
    async with store.tenant_session(tenant, ACTOR) as ts:
        deal = await records.create_record(ts, BY_NAME["deal"], {"name": "Seed deal"})
        pipeline = await records.create_record(ts, BY_NAME["pipeline"], {"name": "Seed pipeline"})
    required = {
        "stage": {"pipeline_id": pipeline.id, "name": "Intro"},  # type: ignore[attr-defined]
        "line_item": {"deal_id": deal.id, "quantity": 2},  # type: ignore[attr-defined]
        "note": {"body": "hello"},
    }
    for entity in ENTITIES:
        data = required.get(entity.name) or (
            {"name": f"a {entity.title}"}
            if "name" in entity.field_map
            else {next(f.name for f in entity.fields if f.required): "x"}
            if any(f.required for f in entity.fields)
            else {}
        )
        async with store.tenant_session(tenant, ACTOR) as ts:
            made = await records.create_record(ts, entity, data)
            page = await records.list_records(ts, entity, limit=100)
            assert made.id in {i.id for i in page.items}, entity.name  # type: ignore[attr-defined]
            await records.update_record(ts, entity, made.id, {})  # type: ignore[attr-defined]
            await records.delete_record(ts, entity, made.id)  # type: ignore[attr-defined]


async def test_viewers_read_but_never_write(store: Store, make_workspace: MakeWorkspace) -> None:
    tenant = await make_workspace()
    companies = BY_NAME["company"]
    async with store.tenant_session(tenant, ACTOR, role="member") as ts:
        company = await records.create_record(ts, companies, {"name": "Acme"})
    async with store.tenant_session(tenant, ACTOR, role="viewer") as ts:
        assert (await records.get_record(ts, companies, company.id)).name == "Acme"  # type: ignore[attr-defined]
        with pytest.raises(Forbidden, match="viewer"):
            await records.create_record(ts, companies, {"name": "Nope"})
        with pytest.raises(Forbidden):
            await records.update_record(ts, companies, company.id, {"name": "Nope"})  # type: ignore[attr-defined]
        with pytest.raises(Forbidden):
            await records.delete_record(ts, companies, company.id)  # type: ignore[attr-defined]
