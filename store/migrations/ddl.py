"""DDL the migrations apply to every tenant table, derived from the schema so none is forgotten.

A migration that adds a tenant table calls `secure_tenant_table(name)` and then
`audit_every_tenant_table()`; the catalog lint in `tests/store/test_catalog.py` and
`tests/store/audit/test_triggers.py` fail if either was missed.
"""

from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from alembic import op

from store.roles import APP_ROLE, OWNER_ROLE

CURRENT_TENANT = "current_setting('app.tenant_id')::uuid"


def instant(name: str, nullable: bool = False) -> sa.Column:
    """A timestamp-with-time-zone column, as the models' datetimes are stored."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def choice(name: str, *options: str) -> sa.Column:
    """A required text enum with its CHECK constraint, as the models' `choice(...)` fields."""
    return sa.Column(
        name,
        sa.Enum(*options, native_enum=False, create_constraint=True, length=32),
        nullable=False,
    )


TOUCH_ROW_FUNCTION = """
CREATE OR REPLACE FUNCTION flowgrid_touch_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    -- Every update bumps the row version, whoever issues it, so optimistic concurrency holds
    -- for direct SQL too.
    NEW.updated_at := clock_timestamp();
    NEW.version := OLD.version + 1;
    NEW.created_at := OLD.created_at;
    RETURN NEW;
END $$;
"""


def secure_tenant_table(table: str) -> None:
    """RLS enabled and forced, one isolation policy, exactly the DML grants, and row touching.

    The cast in the policy makes an unset or empty `app.tenant_id` an error, never a match:
    a transaction that forgot its tenant fails instead of reading anything.
    """
    isolate_tenant_table(table)
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
    op.execute(
        f"CREATE TRIGGER touch_row BEFORE UPDATE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION flowgrid_touch_row()"
    )


def isolate_tenant_table(table: str) -> None:
    """Row-level security enabled and forced, the isolation policy, and no PUBLIC access."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} AS PERMISSIVE FOR ALL "
        f"TO {APP_ROLE}, {OWNER_ROLE} "
        f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
    )
    op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")


def grant_platform_table(table: str, privileges: str = "SELECT, INSERT, UPDATE") -> None:
    """The app role's grants on a platform table: what provisioning needs.

    DELETE only where row-level policies limit it to the session's own rows (`slack_teams`).
    """
    op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
    op.execute(f"GRANT {privileges} ON {table} TO {APP_ROLE}")


# --- the audit trail (docs/audit.md) --------------------------------------------------------

# The trail itself: never audited (an event about an event would recurse), never granted DML.
TRAIL_TABLES = ("audit_events", "audit_heads", "audit_checkpoints", "audit_signing_keys")
AUDIT_TRIGGER = "audit_row"

# Columns left out of before/after images. Wrapped keys must not outlive their row: a subject
# key kept in the trail would undo the crypto-shredding of an erased contact. Blind-index tokens
# are derived from personal data and would let anyone holding the index key test guesses. An API
# token's digest is a credential's verifier, and a Slack bot token a credential: neither has
# any business in the trail.
KEY_MATERIAL_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "data_keys": ("wrapped",),
    "subject_keys": ("wrapped",),
    "search_tokens": ("token",),
    "api_tokens": ("secret_hash",),
    "slack_installs": ("bot_token",),
}

# One field of the digest input: a 4-byte big-endian length and the bytes, or FF FF FF FF for
# NULL (PostgreSQL's binary wire convention), so no two events can encode alike.
AUDIT_FIELD_FUNCTION = r"""
CREATE OR REPLACE FUNCTION audit_field(value bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value IS NULL THEN '\xffffffff'::bytea
                ELSE pg_catalog.int4send(pg_catalog.length(value)) OPERATOR(pg_catalog.||) value
           END
$$;
"""

# The byte layout is the contract with `store.audit.chain`, which recomputes it in Python.
# Both functions are plain SQL with every name schema-qualified and no SET clause, so the
# planner inlines them (a SET clause would cost a GUC switch per call, 20x slower) and no
# search_path can redirect them.
AUDIT_DIGEST_FUNCTION = r"""
CREATE OR REPLACE FUNCTION audit_event_digest(
    prev_hash bytea, tenant_id uuid, seq bigint, id uuid, at timestamptz, actor text, via text,
    run_id text, tool_call_id text, action text, table_name text, record_id uuid,
    before jsonb, after jsonb
) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT pg_catalog.sha256(
        prev_hash
        OPERATOR(pg_catalog.||) pg_catalog.convert_to('flowgrid-audit-v1', 'UTF8')
        OPERATOR(pg_catalog.||) public.audit_field(pg_catalog.uuid_send(tenant_id))
        OPERATOR(pg_catalog.||) public.audit_field(pg_catalog.int8send(seq))
        OPERATOR(pg_catalog.||) public.audit_field(pg_catalog.uuid_send(id))
        OPERATOR(pg_catalog.||) public.audit_field(pg_catalog.int8send(
            (pg_catalog.extract('epoch', at) OPERATOR(pg_catalog.*) 1000000)::bigint))
        OPERATOR(pg_catalog.||) public.audit_field(pg_catalog.convert_to(actor, 'UTF8'))
        OPERATOR(pg_catalog.||) public.audit_field(pg_catalog.convert_to(via, 'UTF8'))
        OPERATOR(pg_catalog.||) public.audit_field(pg_catalog.convert_to(run_id, 'UTF8'))
        OPERATOR(pg_catalog.||) public.audit_field(pg_catalog.convert_to(tool_call_id, 'UTF8'))
        OPERATOR(pg_catalog.||) public.audit_field(pg_catalog.convert_to(action, 'UTF8'))
        OPERATOR(pg_catalog.||) public.audit_field(pg_catalog.convert_to(table_name, 'UTF8'))
        OPERATOR(pg_catalog.||) public.audit_field(pg_catalog.uuid_send(record_id))
        OPERATOR(pg_catalog.||) public.audit_field(pg_catalog.convert_to(before::text, 'UTF8'))
        OPERATOR(pg_catalog.||) public.audit_field(pg_catalog.convert_to(after::text, 'UTF8'))
    )
$$;
"""

# Runs as its owner (flowgrid_owner), which is bound by the FORCEd isolation policy like the app
# role: it can only append to the chain of the workspace the transaction is scoped to.
#
# Locking: the workspace's `audit_heads` row is locked FOR UPDATE before an event gets its seq,
# and the lock is held to commit, so writers of one workspace append one transaction after
# another: the chain never forks and never gaps. The previous event is read from
# `audit_events` itself (the lock holder's own earlier events included); `audit_heads` is
# brought up to date once, at commit, by `audit_sync_head`. Updating it per event instead
# would pile row versions onto one row inside a transaction and make big ones quadratic.
AUDIT_RECORD_FUNCTION = r"""
CREATE OR REPLACE FUNCTION audit_record_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_actor text := current_setting('app.actor', true);
    v_via text := nullif(current_setting('app.via', true), '');
    v_omit text[] := coalesce(TG_ARGV, '{}'::text[]);
    v_action text := lower(TG_OP);
    v_before jsonb;
    v_after jsonb;
    v_tenant uuid;
    v_record uuid;
    v_agent text[];
    v_seq bigint;
    v_prev bytea;
    v_id uuid := gen_random_uuid();
    v_at timestamptz;
    v_hash bytea;
BEGIN
    IF v_actor IS NULL OR v_actor !~ '^[a-z]+:[^[:space:]]+$' THEN
        RAISE EXCEPTION 'audit: % on % refused: app.actor is not set', TG_OP, TG_TABLE_NAME
            USING ERRCODE = '42501',
                  HINT = 'set_config(''app.actor'', ''kind:id'', true) in the transaction';
    END IF;
    IF coalesce(current_setting('app.tenant_id', true), '') = '' THEN
        RAISE EXCEPTION 'audit: % on % refused: app.tenant_id is not set', TG_OP, TG_TABLE_NAME
            USING ERRCODE = '42501';
    END IF;
    IF TG_OP <> 'INSERT' THEN
        v_before := to_jsonb(OLD) - v_omit;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        v_after := to_jsonb(NEW) - v_omit;
    END IF;
    v_tenant := (coalesce(v_after, v_before) ->> 'tenant_id')::uuid;
    v_record := (coalesce(v_after, v_before) ->> 'id')::uuid;

    -- An erasure keeps only what identifies the row, never what it said (docs/audit.md).
    IF TG_OP = 'DELETE'
       AND current_setting('app.audit_erase', true) = TG_TABLE_NAME || ':' || v_record THEN
        v_action := 'erase';
        v_before := v_before - ARRAY(
            SELECT attname::text FROM pg_attribute
            WHERE attrelid = TG_RELID AND attnum > 0 AND NOT attisdropped
              AND atttypid = 'bytea'::regtype);
        v_after := jsonb_build_object(
            'reason', nullif(current_setting('app.audit_reason', true), ''));
    END IF;
    IF v_actor LIKE 'agent:%' THEN
        v_agent := regexp_match(v_actor, '^agent:([^/]+)(?:/(.+))?$');
    END IF;

    PERFORM FROM audit_heads AS h WHERE h.tenant_id = v_tenant FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_heads AS h (tenant_id, seq, hash)
            VALUES (v_tenant, 0, '\x0000000000000000000000000000000000000000000000000000000000000000')
            ON CONFLICT (tenant_id) DO NOTHING;
        PERFORM FROM audit_heads AS h WHERE h.tenant_id = v_tenant FOR UPDATE;
    END IF;
    SELECT e.seq, e.hash INTO v_seq, v_prev FROM audit_events AS e
        WHERE e.tenant_id = v_tenant ORDER BY e.seq DESC LIMIT 1;
    v_seq := coalesce(v_seq, 0) + 1;
    v_prev := coalesce(v_prev, '\x0000000000000000000000000000000000000000000000000000000000000000');
    v_at := clock_timestamp();
    v_hash := audit_event_digest(v_prev, v_tenant, v_seq, v_id, v_at, v_actor, v_via,
                                 v_agent[1], v_agent[2], v_action, TG_TABLE_NAME, v_record,
                                 v_before, v_after);
    INSERT INTO audit_events AS e (tenant_id, seq, id, at, actor, via, run_id, tool_call_id,
                                   action, table_name, record_id, before, after, prev_hash, hash)
        VALUES (v_tenant, v_seq, v_id, v_at, v_actor, v_via, v_agent[1], v_agent[2],
                v_action, TG_TABLE_NAME, v_record, v_before, v_after, v_prev, v_hash);
    RETURN NULL;
END $$;
"""

# Deferred to commit: moves the workspace's head to its newest event, once per transaction.
AUDIT_SYNC_HEAD_FUNCTION = r"""
CREATE OR REPLACE FUNCTION audit_sync_head() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE audit_heads AS h SET seq = NEW.seq, hash = NEW.hash
        WHERE h.tenant_id = NEW.tenant_id AND h.seq < NEW.seq
          AND NEW.seq = (SELECT max(e.seq) FROM audit_events AS e
                         WHERE e.tenant_id = NEW.tenant_id);
    RETURN NULL;
END $$;
"""

AUDIT_REFUSE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    RAISE EXCEPTION 'audit: % is append-only; % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = '42501';
END $$;
"""

AUDIT_FUNCTIONS = (
    AUDIT_FIELD_FUNCTION,
    AUDIT_DIGEST_FUNCTION,
    AUDIT_RECORD_FUNCTION,
    AUDIT_SYNC_HEAD_FUNCTION,
    AUDIT_REFUSE_FUNCTION,
)


def create_audit_functions() -> None:
    for statement in AUDIT_FUNCTIONS:
        op.execute(statement)
    # A trigger function cannot be called directly anyway; this keeps the catalog honest.
    for function in ("audit_record_change", "audit_sync_head", "audit_refuse_change"):
        op.execute(f"REVOKE ALL ON FUNCTION {function}() FROM PUBLIC")


def drop_audit_functions() -> None:
    op.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")
    op.execute("DROP FUNCTION IF EXISTS audit_sync_head()")
    op.execute("DROP FUNCTION IF EXISTS audit_record_change()")
    op.execute(
        "DROP FUNCTION IF EXISTS audit_event_digest(bytea, uuid, bigint, uuid, timestamptz, text, "
        "text, text, text, text, text, uuid, jsonb, jsonb)"
    )
    op.execute("DROP FUNCTION IF EXISTS audit_field(bytea)")


def secure_trail_table(table: str, privileges: str = "SELECT") -> None:
    """Isolated like any tenant table, but the app role may only read (and, for checkpoints,
    add): events are written by the trigger function, as the owner."""
    isolate_tenant_table(table)
    op.execute(f"GRANT {privileges} ON {table} TO {APP_ROLE}")


def keep_head_in_sync() -> None:
    """At commit, `audit_heads` takes the newest (seq, hash) the transaction appended."""
    op.execute(
        "CREATE CONSTRAINT TRIGGER audit_head AFTER INSERT ON audit_events "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_sync_head()"
    )


def make_append_only(table: str) -> None:
    """UPDATE, DELETE and TRUNCATE raise for everyone, the owner and superusers included.

    Only a superuser who switches triggers off (session_replication_role = replica, or ALTER
    TABLE ... DISABLE TRIGGER) gets past this; the hash chain and checkpoints reveal it.
    """
    op.execute(
        f"CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
    )
    op.execute(
        f"CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
    )


def audit_tenant_table(table: str, omit: Iterable[str] = ()) -> None:
    """Record every row change of `table` in the audit chain, leaving the `omit` columns out."""
    args = ", ".join(_sql_literal(column) for column in omit)
    op.execute(
        f"CREATE TRIGGER {AUDIT_TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION audit_record_change({args})"
    )


def audit_every_tenant_table(
    omit: Mapping[str, Iterable[str]] = KEY_MATERIAL_COLUMNS,
) -> list[str]:
    """Install the audit trigger on every tenant table of the database that lacks it.

    Read from the catalog, not from a list, so a table added by any migration is covered as
    soon as that migration calls this. A tenant table is one with `tenant_id` and row-level
    security (platform tables such as `invites` have the column but no RLS and no actor).
    Returns the tables it audited.
    """
    rows = op.get_bind().execute(
        sa.text(
            """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                 AND c.relrowsecurity
                 AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                             AND a.attname = 'tenant_id' AND NOT a.attisdropped)
                 AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid
                                 AND t.tgname = :trigger)
                 AND c.relname <> ALL(:trail)
               ORDER BY c.relname"""
        ),
        {"trigger": AUDIT_TRIGGER, "trail": list(TRAIL_TABLES)},
    )
    tables = [row.relname for row in rows]
    for table in tables:
        audit_tenant_table(table, omit.get(table, ()))
    return tables


def _sql_literal(value: str) -> str:
    if not value.isidentifier():
        raise ValueError(f"not a column name: {value!r}")
    return f"'{value}'"
