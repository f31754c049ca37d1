"""identity and access: sessions, API tokens, passkeys, WebAuthn challenges, throttling

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from store.migrations.ddl import (
    audit_every_tenant_table,
    choice,
    grant_platform_table,
    instant,
    secure_tenant_table,
)

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What the app role may do on each new platform table. Sessions and tokens are revoked by
# marking them, never deleted; a person removing a passkey is the one DELETE the app needs.
PLATFORM_GRANTS = {
    "sessions": "SELECT, INSERT, UPDATE",
    "api_tokens": "SELECT, INSERT, UPDATE",
    "passkeys": "SELECT, INSERT, UPDATE, DELETE",
    "webauthn_challenges": "SELECT, INSERT, UPDATE",
    "auth_throttle": "SELECT, INSERT, UPDATE",
}


def upgrade() -> None:
    op.add_column("identities", sa.Column("last_tenant_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_identities_last_tenant_id"), "identities", "tenants", ["last_tenant_id"], ["id"]
    )
    op.create_check_constraint(
        op.f("ck_identities_platform_admin_has_no_password"),
        "identities",
        "NOT (is_platform_admin AND password_hash IS NOT NULL)",
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("identity_id", sa.Uuid(), nullable=False),
        choice("scope", "workspace", "platform"),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        choice("auth_method", "password", "passkey"),
        sa.Column("user_verified", sa.Boolean(), nullable=False),
        instant("created_at"),
        instant("last_seen_at"),
        instant("idle_expires_at"),
        instant("expires_at"),
        instant("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_sessions_identity_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_sessions_tenant_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sessions_token_hash")),
    )
    op.create_index("ix_sessions_identity_id", "sessions", ["identity_id"], unique=False)
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        choice("role", "owner", "admin", "member", "viewer"),
        choice("kind", "api", "bot"),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        instant("created_at"),
        instant("last_used_at", nullable=True),
        instant("expires_at", nullable=True),
        instant("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["members.tenant_id", "members.id"],
            name=op.f("fk_api_tokens_tenant_id_member_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_tokens_tenant_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
    )
    op.create_table(
        "passkeys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("identity_id", sa.Uuid(), nullable=False),
        sa.Column("credential_id", sa.Text(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("aaguid", sa.Text(), nullable=False),
        sa.Column("backup_eligible", sa.Boolean(), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
        instant("created_at"),
        instant("last_used_at", nullable=True),
        instant("flagged_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_passkeys_identity_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passkeys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_passkeys_credential_id")),
    )
    op.create_index("ix_passkeys_identity_id", "passkeys", ["identity_id"], unique=False)
    op.create_table(
        "webauthn_challenges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("challenge_hash", sa.Text(), nullable=False),
        choice("ceremony", "register", "login"),
        sa.Column("identity_id", sa.Uuid(), nullable=True),
        sa.Column("invite_id", sa.Uuid(), nullable=True),
        instant("created_at"),
        instant("expires_at"),
        instant("used_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_webauthn_challenges_identity_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invite_id"], ["invites.id"], name=op.f("fk_webauthn_challenges_invite_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webauthn_challenges")),
        sa.UniqueConstraint("challenge_hash", name=op.f("uq_webauthn_challenges_challenge_hash")),
    )
    op.create_table(
        "auth_throttle",
        choice("scope", "account", "address"),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        instant("window_started_at"),
        sa.PrimaryKeyConstraint("scope", "subject", name=op.f("pk_auth_throttle")),
    )
    op.create_table(
        "platform_events",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        choice("action", "workspace.created", "workspace.key_retired"),
        sa.Column("admin_identity_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_platform_events")),
    )
    for table, privileges in PLATFORM_GRANTS.items():
        grant_platform_table(table, privileges)
    secure_tenant_table("platform_events")
    audit_every_tenant_table()


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_row ON platform_events")
    op.drop_table("platform_events")
    op.drop_table("auth_throttle")
    op.drop_table("webauthn_challenges")
    op.drop_index("ix_passkeys_identity_id", table_name="passkeys")
    op.drop_table("passkeys")
    op.drop_table("api_tokens")
    op.drop_index("ix_sessions_identity_id", table_name="sessions")
    op.drop_table("sessions")
    op.drop_constraint(
        op.f("ck_identities_platform_admin_has_no_password"), "identities", type_="check"
    )
    op.drop_constraint(op.f("fk_identities_last_tenant_id"), "identities", type_="foreignkey")
    op.drop_column("identities", "last_tenant_id")
