"""The two database roles and how a fresh database is prepared for them.

`flowgrid_owner` owns the schema and runs migrations. `flowgrid_app` is what the web process and
Nexus log in as: no superuser, no BYPASSRLS, owns nothing, may not create anything, and is granted
table privileges by the migrations alone. Row-level security binds it; the owner is bound too
because every tenant table is FORCEd.
"""

import psycopg
from psycopg import sql

OWNER_ROLE = "flowgrid_owner"
APP_ROLE = "flowgrid_app"

_ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


def bootstrap_database(
    superuser_conninfo: str, *, database: str, owner_password: str, app_password: str
) -> None:
    """Create (or re-secure) both roles and the database. Idempotent; needs a superuser."""
    with psycopg.connect(superuser_conninfo, autocommit=True) as conn:
        # Roles are cluster-wide: processes preparing databases side by side (test workers on
        # one server) take turns, or PostgreSQL refuses the concurrent ALTER ROLE.
        conn.execute("SELECT pg_advisory_lock(hashtext('flowgrid bootstrap'))")
        for role, password in ((OWNER_ROLE, owner_password), (APP_ROLE, app_password)):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} " + _ROLE_ATTRIBUTES + " PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
                    sql.Identifier(database), sql.Identifier(OWNER_ROLE)
                )
            )
        conn.execute(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database))
        )
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(database), sql.Identifier(APP_ROLE)
            )
        )
    with psycopg.connect(superuser_conninfo, dbname=database, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(OWNER_ROLE)))
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(APP_ROLE)))
