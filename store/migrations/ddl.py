"""DDL the migrations apply to every tenant table, derived from the schema so none is forgotten.

A migration that adds a tenant table calls `secure_tenant_table(name)`; the catalog lint in
`tests/store/test_catalog.py` fails if one was missed.
"""

from alembic import op

from store.roles import APP_ROLE, OWNER_ROLE

CURRENT_TENANT = "current_setting('app.tenant_id')::uuid"

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
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} AS PERMISSIVE FOR ALL "
        f"TO {APP_ROLE}, {OWNER_ROLE} "
        f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
    )
    op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
    op.execute(
        f"CREATE TRIGGER touch_row BEFORE UPDATE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION flowgrid_touch_row()"
    )


def grant_platform_table(table: str, privileges: str = "SELECT, INSERT, UPDATE") -> None:
    """Platform tables carry no RLS; the app role gets what provisioning needs, never DELETE."""
    op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
    op.execute(f"GRANT {privileges} ON {table} TO {APP_ROLE}")
