"""`/api/v1/{entity}` and `/api/v1/custom_fields` over HTTP: shapes, paging, errors, versions."""

from fastapi import FastAPI

from store.entities import ENTITIES
from tests.web.conftest import MakeWorkspace


async def test_every_entity_has_its_routes_in_the_openapi_document(app: FastAPI) -> None:
    spec = app.openapi()
    for entity in ENTITIES:
        collection = spec["paths"][f"/api/v1/{entity.plural}"]
        item = spec["paths"][f"/api/v1/{entity.plural}/{{record_id}}"]
        assert set(collection) == {"get", "post"} and set(item) == {"get", "patch", "delete"}
        created = collection["post"]["responses"]["201"]["content"]["application/json"]
        assert created["schema"]["$ref"].endswith(entity.public_model.__name__)
        assert "403" in collection["post"]["responses"] and collection["post"]["summary"]


async def test_contact_crud_and_list_shape(app: FastAPI, workspace: MakeWorkspace) -> None:
    ws = await workspace(("owner",))
    b = ws.browsers["owner"]
    created = await b.post(
        "/api/v1/contacts", json={"first_name": "Jane", "last_name": "Doe", "email": "j@acme.test"}
    )
    assert created.status_code == 201, created.text
    contact = created.json()
    assert {"id", "created_at", "updated_at", "version", "first_name", "custom"} <= set(contact)
    assert created.headers["etag"] == '"1"'
    listed = (await b.get("/api/v1/contacts")).json()
    assert set(listed) == {"items", "next_cursor"} and listed["items"][0]["id"] == contact["id"]
    found = (await b.get("/api/v1/contacts", params={"email": "j@acme.test"})).json()
    assert [c["id"] for c in found["items"]] == [contact["id"]]
    searched = (await b.get("/api/v1/contacts", params={"q": "jan"})).json()
    assert [c["id"] for c in searched["items"]] == [contact["id"]]
    deleted = await b.request("DELETE", f"/api/v1/contacts/{contact['id']}")
    assert deleted.status_code == 200 and deleted.json()["first_name"] == "Jane"
    assert (await b.get(f"/api/v1/contacts/{contact['id']}")).status_code == 404


async def test_paging_and_a_malformed_cursor(app: FastAPI, workspace: MakeWorkspace) -> None:
    ws = await workspace(("owner",))
    b = ws.browsers["owner"]
    for i in range(3):
        assert (await b.post("/api/v1/tags", json={"name": f"t{i}"})).status_code == 201
    first = (await b.get("/api/v1/tags", params={"limit": 2})).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (
        await b.get("/api/v1/tags", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    bad = await b.get("/api/v1/tags", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400
    assert bad.json() == {
        "error": "invalid_cursor",
        "detail": "cursor is malformed; pass back the next_cursor you were given",
    }
    unknown_field = await b.get("/api/v1/tags", params={"nope": "1"})
    assert unknown_field.status_code == 422 and set(unknown_field.json()) == {"error", "detail"}


async def test_patch_with_if_match(app: FastAPI, workspace: MakeWorkspace) -> None:
    ws = await workspace(("owner",))
    b = ws.browsers["owner"]
    company = (await b.post("/api/v1/companies", json={"name": "Acme"})).json()
    url = f"/api/v1/companies/{company['id']}"
    ok = await b.request("PATCH", url, json={"industry": "Tools"}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200 and ok.json()["version"] == 2 and ok.headers["etag"] == '"2"'
    stale = await b.request("PATCH", url, json={"industry": "Food"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 409 and stale.json()["error"] == "conflict"
    unconditional = await b.request("PATCH", url, json={"industry": "Food"})
    assert unconditional.status_code == 200 and unconditional.json()["industry"] == "Food"


async def test_validation_errors_are_422_with_the_error_body(
    app: FastAPI, workspace: MakeWorkspace
) -> None:
    ws = await workspace(("owner",))
    response = await ws.browsers["owner"].post("/api/v1/companies", json={"bogus": 1})
    assert response.status_code == 422 and set(response.json()) == {"error", "detail"}


async def test_custom_fields(app: FastAPI, workspace: MakeWorkspace) -> None:
    ws = await workspace(("owner", "member"))
    owner = ws.browsers["owner"]
    made = await owner.post(
        "/api/v1/custom_fields",
        json={
            "entity": "contact",
            "key": "tier",
            "label": "Tier",
            "type": "select",
            "options": ["gold", "silver"],
        },
    )
    assert made.status_code == 201, made.text
    field = made.json()
    listed = (await ws.browsers["member"].get("/api/v1/custom_fields")).json()
    assert [f["key"] for f in listed["items"]] == ["tier"]
    contact = await owner.post(
        "/api/v1/contacts", json={"first_name": "A", "custom": {"tier": "gold"}}
    )
    assert contact.status_code == 201 and contact.json()["custom"] == {"tier": "gold"}
    bad = await owner.post("/api/v1/contacts", json={"custom": {"tier": "bronze"}})
    assert bad.status_code == 422
    duplicate = await owner.post(
        "/api/v1/custom_fields", json={"entity": "contact", "key": "tier", "label": "T"}
    )
    assert duplicate.status_code == 409
    gone = await owner.request("DELETE", f"/api/v1/custom_fields/{field['id']}")
    assert gone.status_code == 200 and gone.json()["key"] == "tier"
    assert (await owner.get("/api/v1/custom_fields")).json()["items"] == []
