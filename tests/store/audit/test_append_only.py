"""The trail is append-only for the app role, the owner and a superuser playing by the rules.

App role: no privilege at all beyond SELECT (AUD-02). Owner and superuser: the BEFORE
UPDATE/DELETE and BEFORE TRUNCATE triggers raise (AUD-03). Only switching triggers off gets past
them, which test_tamper.py shows verification catches.
"""

import uuid

import psycopg
import pytest

from store.audit.checkpoints import write_checkpoint
from store.runtime import Store
from tests import conftest
from tests.conftest import MakeWorkspace
from tests.store.audit.helpers import head_seq, scoped, superuser

MUTATIONS = {
    "update": "UPDATE {table} SET seq = seq WHERE tenant_id = %(tenant)s",
    "delete": "DELETE FROM {table} WHERE tenant_id = %(tenant)s",
    "truncate": "TRUNCATE {table}",
}
APPEND_ONLY = ("audit_events", "audit_checkpoints")


@pytest.fixture
async def tenant(store: Store, make_workspace: MakeWorkspace) -> uuid.UUID:
    """A workspace with events and one checkpoint."""
    made = await make_workspace()
    assert await write_checkpoint(store, made) is not None
    return made


@pytest.mark.parametrize("table", APPEND_ONLY)
@pytest.mark.parametrize("operation", sorted(MUTATIONS))
def test_app_role_may_not_change_the_trail(
    table: str, operation: str, tenant: uuid.UUID, test_db: conftest.TestDatabase
) -> None:
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"),
        scoped(test_db.app, tenant, actor="system:attacker") as conn,
    ):
        conn.execute(MUTATIONS[operation].format(table=table), {"tenant": tenant})


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO audit_events (tenant_id, seq, id, at, actor, action, table_name, prev_hash, "
        "hash) VALUES (%(tenant)s, 999999, gen_random_uuid(), now(), 'system:x', 'insert', 'tags', "
        "'\\x00', '\\x00')",
        "UPDATE audit_heads SET seq = 0 WHERE tenant_id = %(tenant)s",
        "DELETE FROM audit_heads WHERE tenant_id = %(tenant)s",
    ],
    ids=["forge-event", "rewind-head", "drop-head"],
)
def test_app_role_may_not_write_events_or_heads(
    statement: str, tenant: uuid.UUID, test_db: conftest.TestDatabase
) -> None:
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"),
        scoped(test_db.app, tenant, actor="system:attacker") as conn,
    ):
        conn.execute(statement, {"tenant": tenant})


def test_app_role_may_not_switch_the_triggers_off(
    tenant: uuid.UUID, test_db: conftest.TestDatabase
) -> None:
    for statement in (
        "ALTER TABLE audit_events DISABLE TRIGGER append_only",
        "ALTER TABLE tags DISABLE TRIGGER audit_row",
        "SET session_replication_role = replica",
    ):
        with (
            pytest.raises(psycopg.errors.InsufficientPrivilege),
            psycopg.connect(test_db.app) as conn,
        ):
            conn.execute(statement)


@pytest.mark.parametrize("table", APPEND_ONLY)
@pytest.mark.parametrize("operation", sorted(MUTATIONS))
def test_owner_may_not_change_the_trail(
    table: str, operation: str, tenant: uuid.UUID, test_db: conftest.TestDatabase
) -> None:
    before = head_seq(test_db, tenant)
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
        scoped(test_db.owner, tenant, actor="system:owner") as conn,
    ):
        conn.execute(MUTATIONS[operation].format(table=table), {"tenant": tenant})
    assert head_seq(test_db, tenant) == before


@pytest.mark.parametrize("operation", sorted(MUTATIONS))
def test_superuser_is_refused_while_triggers_are_on(
    operation: str, tenant: uuid.UUID, test_db: conftest.TestDatabase
) -> None:
    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
        superuser(test_db) as conn,
    ):
        conn.execute(MUTATIONS[operation].format(table="audit_events"), {"tenant": tenant})
