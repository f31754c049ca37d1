"""Catalog lint: the database itself, read from pg_catalog, keeps the tenancy rules of DESIGN.md 3.

These tests look at what the migrations actually built, not at what the Python models say, so a
table added by a raw migration, a forgotten `secure_tenant_table(...)` or a stray grant fails here.
The rules (notes/security-checks.md section 1, checks RLS-01, -02, -06, -07, -08, -09, -10):

- every relation in `public` except the platform allowlist is a tenant table: it has `tenant_id`,
  row-level security enabled AND forced, and an isolation policy for `flowgrid_app` whose
  USING and WITH CHECK both compare `tenant_id` with `app.tenant_id`;
- its primary key and every unique index lead with `tenant_id`, and every foreign key to another
  tenant table pairs `tenant_id` with `tenant_id` (no existence oracle through integrity checks);
- no sequences, no views that run as their owner, no SECURITY DEFINER function owned by a role
  that bypasses RLS, no user LEAKPROOF function;
- `flowgrid_app` is an ordinary role that owns nothing, creates nothing and holds no
  whole-table privilege (TRUNCATE, REFERENCES, TRIGGER).

A new table is not exempt because it is "only" audit or platform data: if it is not on the
allowlist below, it must carry a tenant and pass every check.
"""

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from psycopg.rows import dict_row

import store.models
from store.models import metadata, tenant_tables
from store.roles import APP_ROLE
from tests import conftest

# Tables exempt from the tenancy rules, each with the reason it may be. Nothing else is exempt;
# a table added here is a security review decision, not a way to make the lint pass.
PLATFORM_ALLOWLIST = {
    "alembic_version": "Alembic's own bookkeeping; the app role has no grant on it",
    "tenants": "the workspaces themselves, managed by the platform",
    "identities": "people who sign in; looked up before any workspace is known",
    "invites": "single-use invitations, redeemed before the invitee is a member",
    "sessions": "sign-in sessions, looked up by cookie digest before the workspace is known",
    "passkeys": "WebAuthn public keys of identities, used before any workspace is known",
    "webauthn_challenges": "ceremony challenges (digests), consumed during sign-in",
    "auth_throttle": "failed sign-in counters per account or address digest",
    "slack_teams": "which workspace a Slack workspace's events go to, read before any is known "
    "(writes are guarded by RLS policies: a workspace binds and unbinds only its own)",
}
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")
TENANT_SETTING = re.compile(r"current_setting\('app\.tenant_id'")


def _query(dsn: str, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()  # pyright: ignore[reportArgumentType]


@pytest.fixture(scope="module")
def catalog(test_db: conftest.TestDatabase) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A read-only view of the catalog, as the superuser so nothing is hidden from the lint."""
    with psycopg.connect(test_db.superuser, row_factory=dict_row, autocommit=True) as conn:
        yield conn


def _fetch(
    conn: psycopg.Connection[dict[str, Any]], sql: str, *params: Any
) -> list[dict[str, Any]]:
    """Rows as dicts; one dict argument binds named parameters, otherwise positional ones."""
    bound = params[0] if len(params) == 1 and isinstance(params[0], dict) else params
    return conn.execute(sql, bound).fetchall()  # pyright: ignore[reportArgumentType]


def _public_tables(conn: psycopg.Connection[dict[str, Any]]) -> dict[str, int]:
    """Every ordinary or partitioned table in `public`, name -> oid."""
    rows = _fetch(
        conn,
        """SELECT c.relname, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition""",
    )
    return {r["relname"]: r["oid"] for r in rows}


def _checked_tables(conn: psycopg.Connection[dict[str, Any]]) -> dict[str, int]:
    """The tables the tenancy rules apply to: everything in `public` but the allowlist."""
    return {n: o for n, o in _public_tables(conn).items() if n not in PLATFORM_ALLOWLIST}


def _tenant_attnum(conn: psycopg.Connection[dict[str, Any]], oid: int) -> int | None:
    row = _fetch(
        conn,
        "SELECT attnum FROM pg_attribute WHERE attrelid = %s AND attname = 'tenant_id' "
        "AND NOT attisdropped",
        oid,
    )
    return row[0]["attnum"] if row else None


# --- which tables are tenant tables -------------------------------------------------------


def test_catalog_sees_the_tables_the_models_declare(catalog: Any) -> None:
    """The lint below is not vacuous: the database holds exactly the models' tenant tables."""
    assert sorted(_checked_tables(catalog)) == tenant_tables()
    assert len(tenant_tables()) >= 20


def test_the_models_and_this_lint_agree_on_the_platform_tables() -> None:
    """A platform table is declared in `store.models.PLATFORM_TABLES` and reviewed here."""
    assert set(PLATFORM_ALLOWLIST) == {*store.models.PLATFORM_TABLES, "alembic_version"}
    assert all(reason.strip() for reason in PLATFORM_ALLOWLIST.values())


def test_every_non_platform_table_has_a_not_null_uuid_tenant_id(catalog: Any) -> None:
    """A table outside the allowlist without `tenant_id` cannot be isolated by RLS at all."""
    rows = _fetch(
        catalog,
        """SELECT c.relname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_attribute a
             ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition""",
    )
    bad = {
        r["relname"]: (r["type"], r["attnotnull"])
        for r in rows
        if r["relname"] not in PLATFORM_ALLOWLIST and (r["type"], r["attnotnull"]) != ("uuid", True)
    }
    assert bad == {}, "tables without a `tenant_id uuid not null` column"


def test_every_relation_lives_in_public(catalog: Any) -> None:
    """The lint walks `public`; a table, view or sequence in another schema would escape it."""
    rows = _fetch(
        catalog,
        """SELECT n.nspname, c.relname, c.relkind FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname NOT IN ('public', 'pg_catalog', 'information_schema')
             AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
             AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')""",
    )
    assert rows == []


# --- row-level security and its policy ----------------------------------------------------


def test_every_tenant_table_enables_and_forces_row_level_security(catalog: Any) -> None:
    """ENABLE binds the app role; FORCE binds the owner too (pitfall E1)."""
    rows = _fetch(
        catalog,
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = ANY(%s)",
        list(_checked_tables(catalog).values()),
    )
    bad = {
        r["relname"]: (r["relrowsecurity"], r["relforcerowsecurity"])
        for r in rows
        if not (r["relrowsecurity"] and r["relforcerowsecurity"])
    }
    assert bad == {}, "tables without ENABLE + FORCE ROW LEVEL SECURITY"


def _policies(catalog: Any) -> dict[str, list[dict[str, Any]]]:
    rows = _fetch(
        catalog,
        """SELECT c.relname, p.polname, p.polcmd, p.polpermissive,
                  ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END
                        FROM unnest(p.polroles) AS r) AS roles,
                  pg_get_expr(p.polqual, p.polrelid) AS using_expr,
                  pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr
           FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
           WHERE c.oid = ANY(%s)""",
        list(_checked_tables(catalog).values()),
    )
    by_table: dict[str, list[dict[str, Any]]] = {name: [] for name in _checked_tables(catalog)}
    for row in rows:
        by_table[row["relname"]].append(row)
    return by_table


def _is_isolating(expr: str | None) -> bool:
    """`tenant_id = <app.tenant_id>` and nothing that could widen it (no OR)."""
    return (
        expr is not None
        and re.match(r"^\(tenant_id = ", expr) is not None
        and TENANT_SETTING.search(expr) is not None
        and " OR " not in expr.upper()
    )


def test_every_tenant_table_has_an_isolation_policy_for_the_app_role(catalog: Any) -> None:
    """A permissive FOR ALL policy TO flowgrid_app, USING and WITH CHECK both on app.tenant_id.

    Without WITH CHECK a session could write rows into another tenant (pitfall E8).
    """
    missing = []
    for table, policies in _policies(catalog).items():
        isolating = [
            p
            for p in policies
            if APP_ROLE in p["roles"]
            and p["polcmd"] == "*"
            and p["polpermissive"]
            and _is_isolating(p["using_expr"])
            and _is_isolating(p["check_expr"])
        ]
        if not isolating:
            missing.append(table)
    assert missing == [], "tenant tables without an isolation policy for flowgrid_app"


def test_no_policy_the_app_role_falls_under_widens_access(catalog: Any) -> None:
    """Permissive policies are OR-ed: one extra `USING (true)` policy would undo the isolation."""
    widening = [
        (table, p["polname"], p["using_expr"], p["check_expr"])
        for table, policies in _policies(catalog).items()
        for p in policies
        if p["polpermissive"]
        and (APP_ROLE in p["roles"] or "public" in p["roles"])
        and not all(_is_isolating(e) for e in (p["using_expr"], p["check_expr"]) if e is not None)
    ]
    assert widening == []


# --- keys: primary, unique, foreign -------------------------------------------------------


def test_primary_key_and_every_unique_index_lead_with_tenant_id(catalog: Any) -> None:
    """A unique key without the tenant in front is an existence oracle across tenants (E5)."""
    rows = _fetch(
        catalog,
        """SELECT c.relname, i.relname AS index, x.indisprimary,
                  (SELECT attnum FROM pg_attribute WHERE attrelid = c.oid
                     AND attname = 'tenant_id') AS tenant_attnum,
                  x.indkey[0] AS first_attnum
           FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid
           JOIN pg_class i ON i.oid = x.indexrelid
           WHERE c.oid = ANY(%s) AND x.indisunique""",
        list(_checked_tables(catalog).values()),
    )
    with_pk = {r["relname"] for r in rows if r["indisprimary"]}
    assert sorted(with_pk) == sorted(_checked_tables(catalog)), (
        "tenant tables without a primary key"
    )
    bad = [r["index"] for r in rows if r["first_attnum"] != r["tenant_attnum"]]
    assert bad == [], "unique indexes (or primary keys) that do not start with tenant_id"


def test_every_foreign_key_between_tenant_tables_pairs_tenant_id(catalog: Any) -> None:
    """`(tenant_id, x_id) -> x(tenant_id, id)`: a reference into another tenant never resolves."""
    tables = _checked_tables(catalog)
    rows = _fetch(
        catalog,
        """SELECT conname, conrelid, confrelid, conkey, confkey FROM pg_constraint
           WHERE contype = 'f' AND conrelid = ANY(%s) AND confrelid = ANY(%s)""",
        list(tables.values()),
        list(tables.values()),
    )
    assert rows, "expected foreign keys between tenant tables"
    bad = []
    for fk in rows:
        child, parent = (
            _tenant_attnum(catalog, fk["conrelid"]),
            _tenant_attnum(catalog, fk["confrelid"]),
        )
        pairs = list(zip(fk["conkey"], fk["confkey"], strict=True))
        if (child, parent) not in pairs:
            bad.append(fk["conname"])
    assert bad == [], "foreign keys between tenant tables that do not include tenant_id"


# --- things that quietly leak or bypass ---------------------------------------------------


def test_no_column_takes_its_default_from_a_sequence(catalog: Any) -> None:
    """Sequence values are shared by all tenants and leak their write volume (E6)."""
    defaults = _fetch(
        catalog,
        """SELECT c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid) AS expr
           FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
           JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND pg_get_expr(d.adbin, d.adrelid) ILIKE '%%nextval%%'""",
    )
    identity = _fetch(
        catalog,
        """SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND a.attidentity <> '' AND NOT a.attisdropped""",
    )
    sequences = _fetch(
        catalog,
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind = 'S'""",
    )
    assert (defaults, identity, sequences) == ([], [], [])


def test_views_run_as_the_caller(catalog: Any) -> None:
    """A view runs as its owner unless security_invoker is set, which skips RLS (E9).

    Materialized views and foreign tables cannot be made to run as the caller, so none may exist.
    """
    rows = _fetch(
        catalog,
        """SELECT n.nspname, c.relname, c.relkind, c.reloptions FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND c.relkind IN ('v', 'm', 'f')""",
    )
    invoker = re.compile(r"^security_invoker=(true|on|1|yes)$", re.IGNORECASE)
    bad = [
        (r["nspname"], r["relname"])
        for r in rows
        if r["relkind"] != "v" or not any(invoker.match(o) for o in r["reloptions"] or [])
    ]
    assert bad == []


def test_no_security_definer_function_is_owned_by_a_bypassing_role(catalog: Any) -> None:
    """Such a function returns every tenant's rows to whoever may call it."""
    rows = _fetch(
        catalog,
        """SELECT p.oid::regprocedure::text AS function, r.rolname FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_roles r ON r.oid = p.proowner
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND p.prosecdef AND (r.rolsuper OR r.rolbypassrls)""",
    )
    assert rows == []


def test_every_security_definer_function_pins_its_search_path(catalog: Any) -> None:
    """A definer function resolving names through the caller's search_path can be tricked into
    running the caller's objects with the owner's rights (RLS-09)."""
    rows = _fetch(
        catalog,
        """SELECT p.oid::regprocedure::text AS function FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND p.prosecdef
             AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS setting
                             WHERE setting LIKE 'search\\_path=%%')""",
    )
    assert rows == []


def test_no_user_defined_leakproof_function(catalog: Any) -> None:
    """A LEAKPROOF function is evaluated before the policy and may see other tenants' rows (E10)."""
    rows = _fetch(
        catalog,
        """SELECT p.oid::regprocedure::text AS function FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND p.proleakproof""",
    )
    assert rows == []


# --- the application role -----------------------------------------------------------------


def test_app_role_is_an_ordinary_role(test_db: conftest.TestDatabase) -> None:
    """RLS-02, asked as the app role itself: no superuser, BYPASSRLS, CREATEROLE or CREATEDB."""
    rows = _query(
        test_db.app,
        """SELECT current_user AS name, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb,
                  rolreplication
           FROM pg_roles WHERE rolname = current_user""",
    )
    assert rows == [
        {
            "name": APP_ROLE,
            "rolsuper": False,
            "rolbypassrls": False,
            "rolcreaterole": False,
            "rolcreatedb": False,
            "rolreplication": False,
        }
    ]


def test_app_role_inherits_no_other_role(catalog: Any) -> None:
    """Membership in the owner role (or any other) would hand the app its privileges."""
    rows = _fetch(
        catalog,
        """SELECT m.roleid::regrole::text AS granted FROM pg_auth_members m
           WHERE m.member = %s::regrole""",
        APP_ROLE,
    )
    assert rows == []


def test_app_role_owns_nothing(catalog: Any) -> None:
    """An owner can ALTER, DROP or DISABLE ROW LEVEL SECURITY on what it owns."""
    owned = _fetch(
        catalog,
        """SELECT 'relation' AS kind, relname::text AS name FROM pg_class
             WHERE relowner = %(app)s::regrole
           UNION ALL SELECT 'function', proname::text FROM pg_proc WHERE proowner = %(app)s::regrole
           UNION ALL SELECT 'schema', nspname::text FROM pg_namespace
             WHERE nspowner = %(app)s::regrole
           UNION ALL SELECT 'type', typname::text FROM pg_type WHERE typowner = %(app)s::regrole""",
        {"app": APP_ROLE},
    )
    assert owned == []


def _whole_table_privileges(catalog: Any) -> list[str]:
    """Privileges that act on a table as a whole, which row security does not filter."""
    privileges = ["TRUNCATE", "REFERENCES", "TRIGGER"]
    if catalog.info.server_version >= 170000:
        privileges.append("MAINTAIN")  # VACUUM, CLUSTER, REINDEX, LOCK TABLE
    return privileges


def test_app_role_holds_no_whole_table_privilege(catalog: Any) -> None:
    """TRUNCATE empties every tenant at once (E13); REFERENCES, TRIGGER, MAINTAIN are DDL powers."""
    rows = _fetch(
        catalog,
        """SELECT c.relname, priv FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
                  unnest(%s::text[]) AS priv
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
             AND has_table_privilege(%s, c.oid, priv)""",
        _whole_table_privileges(catalog),
        APP_ROLE,
    )
    assert rows == []


def test_app_role_can_read_every_tenant_table(catalog: Any) -> None:
    """Row privileges are granted per table by the migrations; a forgotten grant shows up here.

    (Which of INSERT, UPDATE, DELETE a table grants is its own business: the audit trail, for
    one, is read-only to the app role. The isolation tests check each table with what it grants.)
    """
    rows = _fetch(
        catalog,
        "SELECT relname FROM pg_class "
        "WHERE oid = ANY(%s) AND NOT has_table_privilege(%s, oid, 'SELECT')",
        list(_checked_tables(catalog).values()),
        APP_ROLE,
    )
    assert rows == []


def test_app_role_cannot_create_anything(catalog: Any) -> None:
    """No CREATE on any schema or on the database, and no TEMP (a temp table could shadow ours)."""
    schemas = _fetch(
        catalog,
        """SELECT nspname FROM pg_namespace
           WHERE nspname NOT LIKE 'pg\\_%%' AND nspname <> 'information_schema'
             AND has_schema_privilege(%s, oid, 'CREATE')""",
        APP_ROLE,
    )
    database = _fetch(
        catalog,
        """SELECT has_database_privilege(%s, current_database(), 'CREATE') AS can_create,
                  has_database_privilege(%s, current_database(), 'TEMP') AS can_temp""",
        APP_ROLE,
        APP_ROLE,
    )
    assert schemas == []
    assert database == [{"can_create": False, "can_temp": False}]


def test_app_role_really_cannot_create_a_table_or_temp_table(
    test_db: conftest.TestDatabase,
) -> None:
    """The privilege checks above, confirmed by trying as the app role."""
    for statement in (
        "CREATE TABLE public.lint_probe (x int)",
        "CREATE TEMP TABLE lint_probe (x int)",
    ):
        with (
            psycopg.connect(test_db.app) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(statement)


# --- the models, the migrations and the data classes --------------------------------------


def test_models_and_migrations_agree(test_db: conftest.TestDatabase) -> None:
    """Alembic autogenerate, comparing the migrated database with the models, finds nothing."""
    engine = sa.create_engine(test_db.urls.owner, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_no_model_module_postpones_annotations() -> None:
    """SQLModel reads annotations at class creation; postponed ones break table columns."""
    package = Path(store.models.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "__future__"
                and any(alias.name == "annotations" for alias in node.names)
            ):
                offenders.append(path.name)
    assert offenders == []


def _holds_free_text(column: sa.Column[Any]) -> bool:
    """Text, varchar, bytea and JSON columns can carry what a person typed; enums cannot."""
    column_type = column.type
    if isinstance(column_type, sa.Enum):
        return False
    return isinstance(column_type, sa.String | sa.LargeBinary | sa.JSON)


def _classification(column: sa.Column[Any]) -> str | None:
    info = column.info
    if info.get("sealed") is True:
        return "sealed" if isinstance(column.type, sa.LargeBinary) else None
    reason = info.get("public")
    if isinstance(reason, str) and reason.strip():
        return "public"
    if info.get("wrapped_key") is True or info.get("blind_index") is True:
        return "key material" if isinstance(column.type, sa.LargeBinary) else None
    return None


def test_every_text_and_bytea_column_is_declared_sealed_or_public() -> None:
    """Each column that can hold user text says whether it is encrypted or why it may be plain."""
    free_text = [
        column
        for table in metadata.tables.values()
        for column in table.columns
        if _holds_free_text(column)
    ]
    assert len(free_text) > 50
    undeclared = [f"{c.table.name}.{c.name}" for c in free_text if _classification(c) is None]
    assert undeclared == []


def test_enum_columns_declare_their_choices() -> None:
    """A varchar enum is exempt from the rule above only because its values are fixed."""
    enums = [c for t in metadata.tables.values() for c in t.columns if isinstance(c.type, sa.Enum)]
    undeclared = [f"{c.table.name}.{c.name}" for c in enums if not c.info.get("choices")]
    assert enums
    assert undeclared == []
