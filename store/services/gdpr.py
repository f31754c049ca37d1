"""GDPR for contacts: erasure (article 17) and access (article 15).

Erasure keeps the audit chain intact and makes the person unreadable in it. Each contact's
fields were sealed under the contact's own subject key, in the live row and in every audit
event about it; shredding that key makes all of those copies noise at once, while the chain,
which hashes the ciphertext, still verifies. What erasure removes:

- the contact row (deals and tickets keep existing; the database sets their `contact_id` to
  NULL) and its subject key;
- its blind-index search tokens;
- what only makes sense about this person: taggings, list memberships, and every row sealed
  under the person's key because it is linked to the contact (or to a contact merged into
  it): notes, activities and the approval requests that quote it (this erasure's own
  included: its decision stays in the trail, its preview reads "[erased]"); tasks about the
  contact stay, unlinked.

The erasure itself is one `erase` event naming the contact id, the actor and the reason, with
no personal data. Both operations need an admin (or a system actor); routes and tools check
the role too, before they get here.
"""

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, text, update

from store.audit.opener import EventOpener
from store.audit.reader import event_batches
from store.entities import BY_NAME, Entity
from store.errors import InvalidInput, NotFound
from store.models import (
    Contact,
    ListMembership,
    RecordList,
    SearchToken,
    Tagging,
    Task,
    metadata,
)
from store.models.base import KeyedBy, keyed_by
from store.services import records
from store.services.access import require_role
from store.tenancy import TenantSession

MAX_REASON = 500
EXPORT_NOTE = "Personal data exported (data subject access request)"
_contacts = Contact.__table__  # pyright: ignore[reportAttributeAccessIssue]
_taggings = Tagging.__table__  # pyright: ignore[reportAttributeAccessIssue]
_memberships = ListMembership.__table__  # pyright: ignore[reportAttributeAccessIssue]
_lists = RecordList.__table__  # pyright: ignore[reportAttributeAccessIssue]
_tasks = Task.__table__  # pyright: ignore[reportAttributeAccessIssue]
_tokens = SearchToken.__table__  # pyright: ignore[reportAttributeAccessIssue]
_LINKED_TO_A_CONTACT = [t for t in metadata.sorted_tables if keyed_by(t) is KeyedBy.LINKED_CONTACT]

_SET = text("SELECT set_config(:name, :value, true)")


@dataclass(frozen=True)
class Erasure:
    contact_id: uuid.UUID
    key_shredded: bool
    removed: dict[str, int] = field(default_factory=dict)


async def erase_contact(
    ts: TenantSession, contact_id: uuid.UUID, reason: str | None = None
) -> Erasure:
    """Erase a contact for good (see the module docstring). Raises NotFound if there is none."""
    require_role(ts, "admin", to="erase contacts")
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"reason must be at most {MAX_REASON} characters")
    found = await ts.db.execute(
        select(_contacts.c.id)
        .where(_contacts.c.tenant_id == ts.tenant_id, _contacts.c.id == contact_id)
        .with_for_update()
    )
    if found.first() is None:
        raise NotFound("contact", contact_id)
    about = {"record_type": "contact", "record_id": contact_id}
    removed = {
        "taggings": await _delete(ts, _taggings, **about),
        "list_memberships": await _delete_memberships(ts, contact_id),
        **await _delete_sealed_under(ts, contact_id),
        "search_tokens": await _delete(ts, _tokens, table_name="contacts", record_id=contact_id),
    }
    await ts.db.execute(
        update(_tasks)
        .where(_tasks.c.tenant_id == ts.tenant_id, *_matching(_tasks, about))
        .values(record_type=None, record_id=None)
    )
    # The trigger records this one delete as `erase`, keeping ids and no sealed values.
    await ts.db.execute(_SET, {"name": "app.audit_erase", "value": f"contacts:{contact_id}"})
    await ts.db.execute(_SET, {"name": "app.audit_reason", "value": reason})
    await _delete(ts, _contacts, id=contact_id)
    await ts.db.execute(_SET, {"name": "app.audit_erase", "value": ""})
    await ts.db.execute(_SET, {"name": "app.audit_reason", "value": ""})
    shredded = await ts.sealer.keyring.shred_subject_key(ts, contact_id)
    return Erasure(contact_id, shredded, removed)


async def export_contact(ts: TenantSession, contact_id: uuid.UUID) -> dict[str, Any]:
    """Everything about a contact, decrypted, as one JSON-ready document."""
    require_role(ts, "admin", to="export a contact's personal data")
    contact = await records.get_record(ts, BY_NAME["contact"], contact_id)
    linked = {"record_type": "contact", "record_id": contact_id}
    document: dict[str, Any] = {
        "contact": contact.model_dump(mode="json"),
        "deals": await _all(ts, BY_NAME["deal"], {"contact_id": contact_id}),
        "tickets": await _all(ts, BY_NAME["ticket"], {"contact_id": contact_id}),
        "activities": await _all(ts, BY_NAME["activity"], linked),
        "notes": await _all(ts, BY_NAME["note"], linked),
        "tasks": await _all(ts, BY_NAME["task"], linked),
        "taggings": await _taggings_of(ts, contact_id),
        "list_memberships": await _memberships_of(ts, contact_id),
        "audit": [],
    }
    opener = EventOpener(ts)
    async for batch in event_batches(ts, record_id=contact_id):
        document["audit"].extend(await opener.open(batch))
    await _record_access(ts, contact_id)
    return document


async def _record_access(ts: TenantSession, contact_id: uuid.UUID) -> None:
    """Leave the access in the trail: an activity on the contact, written (so audited) as the
    admin who exported. It holds no personal data, and erasure removes it like any other."""
    await records.create_record(
        ts,
        BY_NAME["activity"],
        {
            "kind": "note",
            "body": EXPORT_NOTE,
            "record_type": "contact",
            "record_id": contact_id,
        },
    )


# --- helpers ------------------------------------------------------------------------------


def _matching(table: Any, conditions: dict[str, Any]) -> list[Any]:
    return [table.c[name] == value for name, value in conditions.items()]


async def _delete(ts: TenantSession, table: Any, **conditions: Any) -> int:
    result = await ts.db.execute(
        delete(table).where(table.c.tenant_id == ts.tenant_id, *_matching(table, conditions))
    )
    return int(result.rowcount)  # pyright: ignore[reportAttributeAccessIssue]


async def _delete_sealed_under(ts: TenantSession, contact_id: uuid.UUID) -> dict[str, int]:
    """Delete the rows sealed under the person's key (every table keyed by its contact link),
    linked to the contact or to a contact merged into it: once the key is shredded nothing could
    open them, and a listing that met one would fail."""
    people = [contact_id, *await ts.sealer.keyring.merged_into(ts, contact_id)]
    removed: dict[str, int] = {}
    for table in _LINKED_TO_A_CONTACT:
        result = await ts.db.execute(
            delete(table).where(
                table.c.tenant_id == ts.tenant_id,
                table.c.record_type == "contact",
                table.c.record_id.in_(people),
            )
        )
        removed[table.name] = int(result.rowcount)  # pyright: ignore[reportAttributeAccessIssue]
    return removed


def _contact_lists(ts: TenantSession) -> Any:
    return select(_lists.c.id).where(
        _lists.c.tenant_id == ts.tenant_id, _lists.c.member_type == "contact"
    )


async def _delete_memberships(ts: TenantSession, contact_id: uuid.UUID) -> int:
    result = await ts.db.execute(
        delete(_memberships).where(
            _memberships.c.tenant_id == ts.tenant_id,
            _memberships.c.record_id == contact_id,
            _memberships.c.list_id.in_(_contact_lists(ts)),
        )
    )
    return int(result.rowcount)  # pyright: ignore[reportAttributeAccessIssue]


async def _all(ts: TenantSession, entity: Entity, filters: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await records.list_records(
            ts, entity, filters=filters, limit=records.MAX_LIMIT, cursor=cursor
        )
        items.extend(item.model_dump(mode="json") for item in page.items)
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


async def _names(ts: TenantSession, entity: Entity, ids: set[uuid.UUID]) -> dict[uuid.UUID, Any]:
    names = {}
    for record_id in ids:
        names[record_id] = getattr(await records.get_record(ts, entity, record_id), "name", None)
    return names


async def _taggings_of(ts: TenantSession, contact_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = (
        await ts.db.execute(
            select(_taggings.c.id, _taggings.c.tag_id, _taggings.c.created_at).where(
                _taggings.c.tenant_id == ts.tenant_id,
                _taggings.c.record_type == "contact",
                _taggings.c.record_id == contact_id,
            )
        )
    ).all()
    names = await _names(ts, BY_NAME["tag"], {r.tag_id for r in rows})
    return [
        {
            "id": str(r.id),
            "tag_id": str(r.tag_id),
            "tag": names[r.tag_id],
            "created_at": r.created_at.isoformat(),
        }
        for r in rows
    ]


async def _memberships_of(ts: TenantSession, contact_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = (
        await ts.db.execute(
            select(_memberships.c.id, _memberships.c.list_id, _memberships.c.created_at).where(
                _memberships.c.tenant_id == ts.tenant_id,
                _memberships.c.record_id == contact_id,
                _memberships.c.list_id.in_(_contact_lists(ts)),
            )
        )
    ).all()
    names = await _names(ts, BY_NAME["list"], {r.list_id for r in rows})
    return [
        {
            "id": str(r.id),
            "list_id": str(r.list_id),
            "list": names[r.list_id],
            "created_at": r.created_at.isoformat(),
        }
        for r in rows
    ]
