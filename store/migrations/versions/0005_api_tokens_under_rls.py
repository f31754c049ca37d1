"""API tokens become a tenant table: RLS, audited, looked up inside the token's workspace

A token now names its workspace (`fg_<workspace>_<token id>_<secret>`), so it is resolved in
that workspace's session and the app role can no longer read other workspaces' tokens. Tokens
in the old format (`fg_<id>_<secret>`) cannot name their workspace: the table is recreated, and
tokens issued before this revision must be issued again. The downgrade recreates the old table
empty, so it drops every token too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.migrations.ddl import (
    audit_every_tenant_table,
    choice,
    grant_platform_table,
    instant,
    secure_tenant_table,
)

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _member_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "member_id"],
        ["members.tenant_id", "members.id"],
        name=op.f("fk_api_tokens_tenant_id_member_id"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.drop_table("api_tokens")
    op.create_table(
        "api_tokens",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        instant("created_at"),
        instant("updated_at"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        choice("role", "owner", "admin", "member", "viewer"),
        choice("kind", "api", "bot"),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        instant("last_used_at", nullable=True),
        instant("expires_at", nullable=True),
        instant("revoked_at", nullable=True),
        _member_fk(),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_api_tokens")),
    )
    secure_tenant_table("api_tokens")
    audit_every_tenant_table()


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_row ON api_tokens")
    op.drop_table("api_tokens")
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
        _member_fk(),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_tokens_tenant_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
    )
    grant_platform_table("api_tokens", "SELECT, INSERT, UPDATE")
