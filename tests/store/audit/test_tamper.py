"""Tampering by someone who gets past the append-only triggers is detected, and located.

The attacker here is the PostgreSQL superuser with `session_replication_role = replica`
(ordinary triggers off), the strongest database-side position short of replacing the server.
The chain catches edits and deletions inside it; signed checkpoints catch a deleted tail and a
chain rewritten from some event on (AUD-04, AUD-09).
"""

import uuid

import pytest

from store.audit.checkpoints import ChainBroken, write_checkpoint
from store.audit.verify import verify_chain
from store.entities import BY_NAME
from store.runtime import Store
from store.services import records
from tests import conftest
from tests.conftest import MakeWorkspace
from tests.store.audit.helpers import ACTOR, head_seq, superuser

KEY = "tenant_id = %(tenant)s AND seq = %(seq)s"


def tamper(test_db: conftest.TestDatabase, statement: str, **params: object) -> None:
    with superuser(test_db, replica=True) as conn:
        conn.execute(statement, params)


def rewrite_from(test_db: conftest.TestDatabase, tenant: uuid.UUID, first: int) -> None:
    """Edit event `first`, then re-hash it and every later event and move the head: what an
    attacker who knows the (public) algorithm does to make the chain consistent again."""
    with superuser(test_db, replica=True) as conn:
        conn.execute(
            f"UPDATE audit_events SET actor = 'system:someone-else' WHERE {KEY}",
            {"tenant": tenant, "seq": first},
        )
        prev = conn.execute(
            f"SELECT hash FROM audit_events WHERE {KEY}", {"tenant": tenant, "seq": first - 1}
        ).fetchone()["hash"]  # pyright: ignore[reportOptionalSubscript]
        seqs = conn.execute(
            "SELECT seq FROM audit_events WHERE tenant_id = %s AND seq >= %s ORDER BY seq",
            (tenant, first),
        ).fetchall()
        for row in seqs:
            prev = conn.execute(
                "UPDATE audit_events SET prev_hash = %(prev)s, hash = audit_event_digest("
                "%(prev)s, tenant_id, seq, id, at, actor, via, run_id, tool_call_id, action, "
                f"table_name, record_id, before, after) WHERE {KEY} RETURNING hash",
                {"prev": prev, "tenant": tenant, "seq": row["seq"]},
            ).fetchone()["hash"]  # pyright: ignore[reportOptionalSubscript]
        conn.execute("UPDATE audit_heads SET hash = %s WHERE tenant_id = %s", (prev, tenant))


async def _more_events(store: Store, tenant: uuid.UUID, count: int = 3) -> None:
    async with store.tenant_session(tenant, ACTOR) as ts:
        for n in range(count):
            await records.create_record(ts, BY_NAME["tag"], {"name": f"later {n}"})


@pytest.fixture
async def tenant(store: Store, make_workspace: MakeWorkspace) -> uuid.UUID:
    made = await make_workspace()
    assert (await verify_chain(store, made)).ok
    return made


async def test_an_edited_event_is_named(
    store: Store, tenant: uuid.UUID, test_db: conftest.TestDatabase
) -> None:
    tamper(
        test_db,
        f"UPDATE audit_events SET after = jsonb_set(after, '{{version}}', '7') WHERE {KEY}",
        tenant=tenant,
        seq=10,
    )
    result = await verify_chain(store, tenant)
    assert (result.ok, result.first_bad_seq) == (False, 10)
    assert result.reason is not None and "altered" in result.reason
    assert result.as_json() == {
        "ok": False,
        "events": 10,
        "first_bad_seq": 10,
        "reason": result.reason,
    }


async def test_an_edited_and_rehashed_event_breaks_the_next_link(
    store: Store, tenant: uuid.UUID, test_db: conftest.TestDatabase
) -> None:
    tamper(
        test_db,
        "UPDATE audit_events SET actor = 'system:ghost', hash = audit_event_digest(prev_hash, "
        "tenant_id, seq, id, at, 'system:ghost', via, run_id, tool_call_id, action, table_name, "
        f"record_id, before, after) WHERE {KEY}",
        tenant=tenant,
        seq=10,
    )
    result = await verify_chain(store, tenant)
    assert (result.ok, result.first_bad_seq) == (False, 11)
    assert result.reason is not None and "prev_hash" in result.reason


async def test_a_deleted_event_in_the_middle_is_a_gap(
    store: Store, tenant: uuid.UUID, test_db: conftest.TestDatabase
) -> None:
    tamper(test_db, f"DELETE FROM audit_events WHERE {KEY}", tenant=tenant, seq=7)
    result = await verify_chain(store, tenant)
    assert (result.ok, result.first_bad_seq) == (False, 7)
    assert result.reason is not None and "missing" in result.reason


async def test_a_deleted_tail_is_caught_by_the_signed_checkpoint(
    store: Store, tenant: uuid.UUID, test_db: conftest.TestDatabase
) -> None:
    checkpoint = await write_checkpoint(store, tenant)
    assert checkpoint is not None
    last = checkpoint.seq
    # Remove the last event and rewind the head to the event before it: the chain that is left
    # is perfectly consistent. Only the signed checkpoint still remembers event `last`.
    with superuser(test_db, replica=True) as conn:
        conn.execute("DELETE FROM audit_events WHERE tenant_id = %s AND seq = %s", (tenant, last))
        conn.execute(
            "UPDATE audit_heads AS h SET seq = e.seq, hash = e.hash FROM audit_events AS e "
            "WHERE h.tenant_id = %s AND e.tenant_id = h.tenant_id AND e.seq = %s",
            (tenant, last - 1),
        )
    result = await verify_chain(store, tenant)
    assert (result.ok, result.first_bad_seq) == (False, last)
    assert result.reason is not None and "signed checkpoint" in result.reason


async def test_a_deleted_tail_without_checkpoint_is_caught_by_the_head(
    store: Store, tenant: uuid.UUID, test_db: conftest.TestDatabase
) -> None:
    last = head_seq(test_db, tenant)
    tamper(test_db, f"DELETE FROM audit_events WHERE {KEY}", tenant=tenant, seq=last)
    result = await verify_chain(store, tenant)
    assert (result.ok, result.first_bad_seq) == (False, last)
    assert result.reason is not None and "chain head" in result.reason


async def test_a_rewritten_chain_is_caught_by_the_signed_checkpoint(
    store: Store, tenant: uuid.UUID, test_db: conftest.TestDatabase
) -> None:
    checkpoint = await write_checkpoint(store, tenant)
    assert checkpoint is not None
    await _more_events(store, tenant)
    rewrite_from(test_db, tenant, 5)
    result = await verify_chain(store, tenant)
    assert (result.ok, result.first_bad_seq) == (False, checkpoint.seq)
    assert result.reason is not None and "signed checkpoint" in result.reason


async def test_a_rewrite_after_the_newest_checkpoint_is_the_documented_limit(
    store: Store, tenant: uuid.UUID, test_db: conftest.TestDatabase
) -> None:
    """docs/audit.md: a superuser who rewrites only events signed by no checkpoint yet, and
    moves the head, goes unnoticed until an external copy (an export) is compared. This test
    pins that statement so the documentation cannot quietly become wrong."""
    checkpoint = await write_checkpoint(store, tenant)
    assert checkpoint is not None
    await _more_events(store, tenant)
    rewrite_from(test_db, tenant, checkpoint.seq + 1)
    assert (await verify_chain(store, tenant)).ok


async def test_a_forged_checkpoint_signature_fails(
    store: Store, tenant: uuid.UUID, test_db: conftest.TestDatabase
) -> None:
    checkpoint = await write_checkpoint(store, tenant)
    assert checkpoint is not None
    tamper(
        test_db,
        "UPDATE audit_checkpoints SET hash = sha256(hash) WHERE " + KEY,
        tenant=tenant,
        seq=checkpoint.seq,
    )
    result = await verify_chain(store, tenant)
    assert (result.ok, result.first_bad_seq) == (False, checkpoint.seq)
    assert result.reason is not None and "signature" in result.reason


async def test_a_checkpoint_copied_from_another_workspace_does_not_verify(
    store: Store,
    make_workspace: MakeWorkspace,
    tenant: uuid.UUID,
    test_db: conftest.TestDatabase,
) -> None:
    other = await make_workspace()
    checkpoint = await write_checkpoint(store, other)
    assert checkpoint is not None
    with superuser(test_db) as conn:
        conn.execute(
            "INSERT INTO audit_checkpoints SELECT %s, seq + 1000, hash, signed_at, key_id, "
            "signature FROM audit_checkpoints WHERE tenant_id = %s",
            (tenant, other),
        )
    result = await verify_chain(store, tenant)
    assert (result.ok, result.first_bad_seq) == (False, checkpoint.seq + 1000)


async def test_no_checkpoint_is_signed_over_a_broken_chain(
    store: Store, tenant: uuid.UUID, test_db: conftest.TestDatabase
) -> None:
    tamper(test_db, f"DELETE FROM audit_events WHERE {KEY}", tenant=tenant, seq=3)
    with pytest.raises(ChainBroken, match="event 3"):
        await write_checkpoint(store, tenant)
    with superuser(test_db) as conn:
        count = conn.execute(
            "SELECT count(*) AS n FROM audit_checkpoints WHERE tenant_id = %s", (tenant,)
        ).fetchone()
    assert count == {"n": 0}


async def test_checkpoints_are_incremental_and_idempotent(
    store: Store, tenant: uuid.UUID, test_db: conftest.TestDatabase
) -> None:
    first = await write_checkpoint(store, tenant)
    again = await write_checkpoint(store, tenant)
    assert first is not None and again == first
    await _more_events(store, tenant)
    later = await write_checkpoint(store, tenant)
    assert later is not None and later.seq == head_seq(test_db, tenant) > first.seq
    # Tampering before the newest checkpoint is still found by a full verification.
    tamper(test_db, f"DELETE FROM audit_events WHERE {KEY}", tenant=tenant, seq=2)
    assert (await verify_chain(store, tenant)).first_bad_seq == 2
