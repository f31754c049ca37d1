"""The hand-written sales tools, end to end through a scripted model: each changes what it says,
and the audit trail holds exactly the rows it should, written as the agent."""

import datetime as dt
import uuid
from typing import Any

from store.runtime import Store
from tests.tools.conftest import Workspace
from tests.tools.support import Clock, Nexus, audit_rows, covers, fetch, make, rows


async def default_stages(store: Store, tenant: uuid.UUID) -> dict[str, Any]:
    """The seeded default pipeline's stages by name."""
    found = await rows(
        store,
        tenant,
        "SELECT id, pipeline_id, outcome FROM stages WHERE tenant_id = :tenant ORDER BY position",
    )
    by_outcome: dict[str, Any] = {}
    for row in found:
        by_outcome.setdefault(row.outcome, []).append(row)
    return by_outcome


# --- deals ----------------------------------------------------------------------------------


@covers("move_deal_stage")
async def test_move_deal_stage_by_name(nexus: Nexus, store: Store, workspace: Workspace) -> None:
    deal = await make(store, workspace.tenant, "deal", name="Acme renewal", amount=1000)
    turn = await nexus.run(("move_deal_stage", {"deal_id": str(deal.id), "stage": "negotiation"}))
    moved = turn.data("move_deal_stage")
    stage = await fetch(store, workspace.tenant, "stage", moved["stage_id"])
    assert (stage.name, moved["status"], moved["version"]) == ("Negotiation", "open", 2)
    assert await audit_rows(store, workspace.tenant, turn.run_id) == {("deals", "update", deal.id)}


@covers("move_deal_stage")
async def test_unknown_stage_is_a_retry_with_the_stage_names(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    deal = await make(store, workspace.tenant, "deal", name="Acme renewal")
    turn = await nexus.run(("move_deal_stage", {"deal_id": str(deal.id), "stage": "Limbo"}))
    part = turn.result("move_deal_stage")
    assert part.outcome == "retried" and "Negotiation" in str(part.content)
    assert await audit_rows(store, workspace.tenant, turn.run_id) == set()


@covers("mark_deal_won", "mark_deal_lost")
async def test_won_and_lost_close_the_deal_in_the_matching_stage(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    won = await make(store, workspace.tenant, "deal", name="Won one")
    lost = await make(store, workspace.tenant, "deal", name="Lost one")
    turn = await nexus.run(
        ("mark_deal_won", {"deal_id": str(won.id), "close_date": "2026-03-01"}),
        ("mark_deal_lost", {"deal_id": str(lost.id), "reason": "Chose a competitor"}),
    )
    stages = await default_stages(store, workspace.tenant)
    after_won = await fetch(store, workspace.tenant, "deal", won.id)
    after_lost = await fetch(store, workspace.tenant, "deal", lost.id)
    assert (after_won.status, after_won.stage_id, str(after_won.close_date)) == (
        "won",
        stages["won"][0].id,
        "2026-03-01",
    )
    assert (after_lost.status, after_lost.stage_id, after_lost.lost_reason) == (
        "lost",
        stages["lost"][0].id,
        "Chose a competitor",
    )
    assert await audit_rows(store, workspace.tenant, turn.run_id) == {
        ("deals", "update", won.id),
        ("deals", "update", lost.id),
    }


@covers("list_pipelines", "pipeline_summary", "forecast", "stale_deals")
async def test_pipeline_reports_read_without_writing(
    nexus: Nexus, store: Store, workspace: Workspace, clock: Clock
) -> None:
    stages = await default_stages(store, workspace.tenant)
    proposal = next(s for s in stages["open"])
    today = clock.now.date()
    for amount in (1000, 3000):
        await make(
            store,
            workspace.tenant,
            "deal",
            name=f"D{amount}",
            amount=amount,
            pipeline_id=proposal.pipeline_id,
            stage_id=proposal.id,
            close_date=today,
        )
    clock.advance(days=45)
    turn = await nexus.run(
        ("list_pipelines", {}),
        ("pipeline_summary", {}),
        ("forecast", {"start": str(today), "end": str(today)}),
        ("stale_deals", {"days": 30}),
    )
    (sales,) = turn.data("list_pipelines")
    assert [s["name"] for s in sales["stages"]][:2] == ["Lead", "Qualified"]
    summary = {s["stage"]: s for s in turn.data("pipeline_summary")["stages"]}
    first = summary["Lead"]
    assert (first["deals"], float(first["amount"]["USD"])) == (2, 4000.0)
    usd = turn.data("forecast")["by_currency"]["USD"]
    assert float(usd["weighted_open"]) == 400.0  # 4000 at Lead's 10 percent
    assert {d["name"] for d in turn.data("stale_deals")} == {"D1000", "D3000"}
    assert await audit_rows(store, workspace.tenant, turn.run_id) == set()


# --- tags and lists -------------------------------------------------------------------------


@covers("tag_record", "untag_record")
async def test_tag_then_untag_a_contact(nexus: Nexus, store: Store, workspace: Workspace) -> None:
    contact = await make(store, workspace.tenant, "contact", first_name="Jane")
    tagged = await nexus.run(
        ("tag_record", {"record_type": "contact", "record_id": str(contact.id), "tag": "VIP"})
    )
    tag_id = uuid.UUID(tagged.data("tag_record")["tag"]["id"])
    (tagging,) = await rows(
        store, workspace.tenant, "SELECT id FROM taggings WHERE tenant_id = :tenant"
    )
    assert await audit_rows(store, workspace.tenant, tagged.run_id) == {
        ("tags", "insert", tag_id),
        ("search_tokens", "insert", tag_id),
        ("taggings", "insert", tagging.id),
    }
    untagged = await nexus.run(
        ("untag_record", {"record_type": "contact", "record_id": str(contact.id), "tag": "vip"})
    )
    assert untagged.data("untag_record")["removed"] is True
    assert (
        await rows(store, workspace.tenant, "SELECT id FROM taggings WHERE tenant_id = :tenant")
        == []
    )
    assert await audit_rows(store, workspace.tenant, untagged.run_id) == {
        ("taggings", "delete", tagging.id)
    }


@covers("add_to_list", "remove_from_list", "get_list_entries")
async def test_list_membership(nexus: Nexus, store: Store, workspace: Workspace) -> None:
    webinar = await make(store, workspace.tenant, "list", name="Webinar", member_type="contact")
    people = [await make(store, workspace.tenant, "contact", first_name=n) for n in ("A", "B")]
    ids = [str(p.id) for p in people]
    added = await nexus.run(("add_to_list", {"list_id": str(webinar.id), "record_ids": ids}))
    assert len(added.data("add_to_list")["added"]) == 2
    memberships = {
        r.record_id: r.id
        for r in await rows(
            store,
            workspace.tenant,
            "SELECT id, record_id FROM list_memberships WHERE tenant_id = :tenant",
        )
    }
    assert await audit_rows(store, workspace.tenant, added.run_id) == {
        ("list_memberships", "insert", m) for m in memberships.values()
    }
    read = await nexus.run(("get_list_entries", {"list_id": str(webinar.id)}))
    assert [i["first_name"] for i in read.data("get_list_entries")["items"]] == ["A", "B"]
    removed = await nexus.run(
        ("remove_from_list", {"list_id": str(webinar.id), "record_ids": ids[:1]})
    )
    assert removed.data("remove_from_list")["removed"] == ids[:1]
    assert await audit_rows(store, workspace.tenant, removed.run_id) == {
        ("list_memberships", "delete", memberships[people[0].id])
    }


@covers("add_to_list")
async def test_a_list_only_takes_records_of_its_kind(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    accounts = await make(store, workspace.tenant, "list", name="Accounts", member_type="company")
    person = await make(store, workspace.tenant, "contact", first_name="A")
    turn = await nexus.run(
        ("add_to_list", {"list_id": str(accounts.id), "record_ids": [str(person.id)]})
    )
    assert turn.result("add_to_list").outcome == "retried"
    assert await audit_rows(store, workspace.tenant, turn.run_id) == set()


# --- activities, tasks, owners, search ------------------------------------------------------


@covers("log_activity", "record_timeline")
async def test_log_a_call_and_read_the_timeline(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    company = await make(store, workspace.tenant, "company", name="Acme")
    logged = await nexus.run(
        (
            "log_activity",
            {
                "record_type": "company",
                "record_id": str(company.id),
                "kind": "call",
                "subject": "Renewal call",
                "body": "They want a discount",
            },
        )
    )
    activity = logged.data("log_activity")
    assert (activity["kind"], activity["owner_id"]) == ("call", str(workspace.owner_id))
    activity_id = uuid.UUID(activity["id"])
    assert await audit_rows(store, workspace.tenant, logged.run_id) == {
        ("activities", "insert", activity_id),
        ("search_tokens", "insert", activity_id),
    }
    read = await nexus.run(
        ("record_timeline", {"record_type": "company", "record_id": str(company.id)})
    )
    (entry,) = read.data("record_timeline")
    assert (entry["type"], entry["subject"]) == ("activity", "Renewal call")


@covers("complete_task", "my_tasks")
async def test_my_tasks_then_complete_one(
    nexus: Nexus, store: Store, workspace: Workspace, clock: Clock
) -> None:
    due = (clock.now - dt.timedelta(days=1)).isoformat()
    task = await make(
        store,
        workspace.tenant,
        "task",
        title="Send quote",
        assignee_id=workspace.owner_id,
        due_at=due,
    )
    await make(store, workspace.tenant, "task", title="Someone else's")
    listed = await nexus.run(("my_tasks", {"due": "overdue"}))
    assert [t["title"] for t in listed.data("my_tasks")] == ["Send quote"]
    done = await nexus.run(("complete_task", {"task_id": str(task.id)}))
    assert done.data("complete_task")["status"] == "done"
    stored = await fetch(store, workspace.tenant, "task", task.id)
    assert stored.completed_at == clock.now
    assert await audit_rows(store, workspace.tenant, done.run_id) == {("tasks", "update", task.id)}


@covers("list_team_members", "assign_owner")
async def test_assign_an_owner_from_the_team(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    deal = await make(store, workspace.tenant, "deal", name="Big one")
    team = await nexus.run(("list_team_members", {}))
    (owner,) = team.data("list_team_members")
    assert (owner["id"], owner["role"]) == (str(workspace.owner_id), "owner")
    turn = await nexus.run(
        (
            "assign_owner",
            {"record_type": "deal", "record_id": str(deal.id), "owner_id": owner["id"]},
        )
    )
    assert turn.data("assign_owner")["owner_id"] == owner["id"]
    assert await audit_rows(store, workspace.tenant, turn.run_id) == {("deals", "update", deal.id)}
    stranger = await nexus.run(
        (
            "assign_owner",
            {"record_type": "deal", "record_id": str(deal.id), "owner_id": str(uuid.uuid4())},
        )
    )
    assert stranger.result("assign_owner").outcome == "retried"


@covers("search_records")
async def test_search_everything_at_once(nexus: Nexus, store: Store, workspace: Workspace) -> None:
    await make(store, workspace.tenant, "company", name="Zorblax Industries")
    await make(store, workspace.tenant, "deal", name="Zorblax renewal")
    await make(store, workspace.tenant, "contact", first_name="Someone")
    turn = await nexus.run(("search_records", {"q": "zorbl"}))
    hits = turn.data("search_records")
    assert sorted((h["type"], h["label"]) for h in hits) == [
        ("company", "Zorblax Industries"),
        ("deal", "Zorblax renewal"),
    ]


# --- merges ---------------------------------------------------------------------------------


@covers("merge_contacts")
async def test_merge_contacts_moves_links_and_removes_the_duplicate(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    tenant = workspace.tenant
    keep = await make(store, tenant, "contact", first_name="Ann", last_name="Lee")
    dup = await make(store, tenant, "contact", first_name="Ann", email="ann@acme.test")
    deal = await make(store, tenant, "deal", name="Deal", contact_id=dup.id)
    call = await make(
        store, tenant, "activity", record_type="contact", record_id=dup.id, kind="call", body="Hi"
    )
    tagged = await nexus.run(
        ("tag_record", {"record_type": "contact", "record_id": str(dup.id), "tag": "vip"})
    )
    assert tagged.data("tag_record")["added"]
    (tagging,) = await rows(store, tenant, "SELECT id FROM taggings WHERE tenant_id = :tenant")

    turn = await nexus.run(
        ("merge_contacts", {"keep_id": str(keep.id), "duplicate_id": str(dup.id)})
    )
    preview = turn.paused.metadata["call-0"]["preview"]
    assert preview["fields_taken_from_duplicate"] == {"email": "ann@acme.test"}
    assert preview["links_moved"] == {"deals.contact_id": 1, "activities": 1, "taggings": 1}
    done = await nexus.approve(turn)
    merged = done.data("merge_contacts")["merged"]
    assert (merged["email"], merged["last_name"]) == ("ann@acme.test", "Lee")
    assert await fetch(store, tenant, "contact", dup.id) is None
    assert (await fetch(store, tenant, "deal", deal.id)).contact_id == keep.id
    assert (await fetch(store, tenant, "activity", call.id)).record_id == keep.id
    audit = await audit_rows(store, tenant, turn.run_id)
    approval = next(r[2] for r in audit if r[0] == "approval_requests")
    assert audit == {
        ("approval_requests", "insert", approval),
        ("approval_requests", "update", approval),
        ("deals", "update", deal.id),
        ("activities", "update", call.id),
        ("taggings", "update", tagging.id),
        ("contacts", "update", keep.id),
        ("search_tokens", "insert", keep.id),
        ("subject_keys", "update", dup.id),  # tied to the survivor: erasure shreds both
        ("contacts", "delete", dup.id),
        ("search_tokens", "delete", dup.id),
    }


@covers("merge_companies")
async def test_merge_companies_moves_contacts(
    nexus: Nexus, store: Store, workspace: Workspace
) -> None:
    tenant = workspace.tenant
    keep = await make(store, tenant, "company", name="Acme", domain="acme.test")
    dup = await make(store, tenant, "company", name="ACME Inc", industry="Widgets")
    person = await make(store, tenant, "contact", first_name="Bo", company_id=dup.id)
    turn = await nexus.run(
        ("merge_companies", {"keep_id": str(keep.id), "duplicate_id": str(dup.id)})
    )
    done = await nexus.approve(turn)
    merged = done.data("merge_companies")["merged"]
    assert (merged["name"], merged["industry"]) == ("Acme", "Widgets")
    assert (await fetch(store, tenant, "contact", person.id)).company_id == keep.id
    audit = await audit_rows(store, tenant, turn.run_id)
    assert {r for r in audit if r[0] != "approval_requests"} == {
        ("contacts", "update", person.id),
        ("companies", "update", keep.id),
        ("companies", "delete", dup.id),
        ("search_tokens", "delete", dup.id),
    }


def test_merges_know_every_table_that_points_at_records_by_id() -> None:
    """A new table with a `record_id` must be moved by merges or be known not to need it."""
    from store.models import metadata, tenant_tables
    from store.services import merge

    with_record_id = {t for t in tenant_tables() if "record_id" in metadata.tables[t].c}
    assert with_record_id == set(merge.LINK_TABLES) | set(merge.NOT_LINKS)
