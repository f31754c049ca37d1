"""The audit trail and GDPR requests over HTTP, as a workspace admin uses them."""

import csv
import io
import json

from fastapi import FastAPI

from tests.web.conftest import MakeWorkspace


async def test_browse_verify_and_export_the_trail(app: FastAPI, workspace: MakeWorkspace) -> None:
    ws = await workspace(("admin", "member"))
    admin = ws.browsers["admin"]
    made = await ws.browsers["member"].post(
        "/api/v1/contacts", json={"first_name": "=HYPERLINK(evil)", "email": "ada@example.test"}
    )
    assert made.status_code == 201, made.text
    contact_id = made.json()["id"]
    await ws.browsers["member"].request(
        "PATCH", f"/api/v1/contacts/{contact_id}", json={"title": "Engineer"}
    )

    history = (await admin.get(f"/api/audit?record_id={contact_id}")).json()
    assert all(e["record_id"] == contact_id for e in history["items"])
    # The contact's own rows (its subject key shares its id), newest first.
    rows = [e for e in history["items"] if e["table_name"] == "contacts"]
    assert [e["action"] for e in rows] == ["update", "insert"]
    assert rows[1]["after"]["email"] == "ada@example.test", "values are decrypted"

    first = (await admin.get("/api/audit?limit=2")).json()
    second = (await admin.get(f"/api/audit?limit=2&cursor={first['next_cursor']}")).json()
    seqs = [e["seq"] for e in first["items"] + second["items"]]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 4
    bad = await admin.get("/api/audit?cursor=abc")
    assert bad.status_code == 400 and set(bad.json()) == {"error", "detail"}

    verified = (await admin.get("/api/audit/verify")).json()
    assert verified["ok"] is True and verified["first_bad_seq"] is None and verified["events"] > 0

    jsonl = await admin.get("/api/audit/export?format=jsonl")
    assert jsonl.status_code == 200 and "attachment" in jsonl.headers["content-disposition"]
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    events = [line for line in lines if line["type"] == "event"]
    assert len(events) == verified["events"]
    assert any(line["type"] == "checkpoint" for line in lines), "an export signs a checkpoint"

    exported = (await admin.get("/api/audit/export?format=csv")).text
    cells = [cell for row in csv.reader(io.StringIO(exported)) for cell in row]
    assert "'=HYPERLINK(evil)" in cells and "=HYPERLINK(evil)" not in cells


async def test_contact_export_and_erasure(app: FastAPI, workspace: MakeWorkspace) -> None:
    ws = await workspace(("admin", "member"))
    admin, member = ws.browsers["admin"], ws.browsers["member"]
    contact = (await member.post("/api/v1/contacts", json={"first_name": "Grace"})).json()
    path = f"/api/v1/contacts/{contact['id']}"

    assert (await member.get(f"{path}/export")).status_code == 403
    exported = (await admin.get(f"{path}/export")).json()
    assert json.dumps(exported).count("Grace") >= 1
    # The access is in the trail, as the admin who exported.
    recent = (await admin.get("/api/audit?limit=5")).json()["items"]
    access = [e for e in recent if e["table_name"] == "activities" and e["action"] == "insert"]
    assert access and access[0]["after"]["record_id"] == contact["id"]
    assert access[0]["actor"].startswith("member:") and "exported" in access[0]["after"]["body"]

    assert (await member.post(f"{path}/erase", json={})).status_code == 403
    erased = await admin.post(f"{path}/erase", json={"reason": "subject request"})
    assert erased.status_code == 200, erased.text
    assert erased.json()["subject_key_shredded"] is True
    assert (await admin.get(path)).status_code == 404
    trail = (await admin.get(f"/api/audit?record_id={contact['id']}")).json()["items"]
    contact_rows = [e for e in trail if e["table_name"] == "contacts"]
    assert contact_rows[0]["action"] == "erase"
    assert {e["action"] for e in trail if e["table_name"] == "subject_keys"} >= {"delete"}
    assert "Grace" not in json.dumps(trail), "no personal data left readable in the trail"
    assert (await admin.get("/api/audit/verify")).json()["ok"] is True
