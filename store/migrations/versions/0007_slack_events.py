"""Real Slack reaches Nexus: a Slack workspace bound to a workspace, its app, its users' links

`slack_teams` (a platform table) finds the workspace of an incoming event before any workspace
is known; `slack_installs` holds the Slack app an admin connected (its bot token sealed);
`slack_user_links` says which member a Slack user is. Both tenant tables are under RLS and
audited like every other (the bot token is left out of the trail's images); `slack_teams` is
readable by all but writable only for the session's own workspace.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 22:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.roles import APP_ROLE, OWNER_ROLE
from store.migrations.ddl import (
    audit_every_tenant_table,
    grant_platform_table,
    instant,
    secure_tenant_table,
)

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant_columns() -> list[sa.Column]:
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        instant("created_at"),
        instant("updated_at"),
        sa.Column("version", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "slack_teams",
        sa.Column("team_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        instant("created_at"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_slack_teams_tenant_id")),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_slack_teams")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_slack_teams_tenant_id")),
    )
    # Read before any workspace is known, so every row is readable; but a workspace may add or
    # remove only its own binding (an admin disconnecting Slack deletes it): row-level security
    # guards the writes, not the WHERE clause of one service.
    grant_platform_table("slack_teams", "SELECT, INSERT, DELETE")
    op.execute("ALTER TABLE slack_teams ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE slack_teams FORCE ROW LEVEL SECURITY")
    own = "tenant_id = current_setting('app.tenant_id', true)::uuid"
    roles = f"{APP_ROLE}, {OWNER_ROLE}"
    op.execute(f"CREATE POLICY lookup ON slack_teams FOR SELECT TO {roles} USING (true)")
    op.execute(f"CREATE POLICY bind ON slack_teams FOR INSERT TO {roles} WITH CHECK ({own})")
    op.execute(f"CREATE POLICY unbind ON slack_teams FOR DELETE TO {roles} USING ({own})")
    op.create_table(
        "slack_installs",
        *_tenant_columns(),
        sa.Column("team_id", sa.Text(), nullable=False),
        sa.Column("bot_token", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_slack_installs")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_slack_installs_tenant_id")),
    )
    op.create_table(
        "slack_user_links",
        *_tenant_columns(),
        sa.Column("slack_user_id", sa.Text(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["members.tenant_id", "members.id"],
            name=op.f("fk_slack_user_links_tenant_id_member_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_slack_user_links")),
        sa.UniqueConstraint(
            "tenant_id", "slack_user_id", name=op.f("uq_slack_user_links_tenant_id_slack_user_id")
        ),
    )
    for table in ("slack_installs", "slack_user_links"):
        secure_tenant_table(table)
    audit_every_tenant_table()


def downgrade() -> None:
    for table in ("slack_user_links", "slack_installs"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_row ON {table}")
        op.drop_table(table)
    op.drop_table("slack_teams")
