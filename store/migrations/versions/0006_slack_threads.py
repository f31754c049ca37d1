"""Slack-style channels: direct messages with Nexus, and a thread's Nexus conversation

`channels.dm_member_id` marks a direct-message channel between one member and Nexus (only that
member may use it; one per member); `messages.conversation_id` ties a thread's first message to the Nexus
conversation the thread carries. Both columns are new and nullable; existing rows keep working.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 21:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Validating a new foreign key reads the table as its owner, which forced row-level security
    # refuses without a workspace; lift the force for this transaction only.
    for table in ("channels", "messages", "members", "conversations"):
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.add_column("channels", sa.Column("dm_member_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_channels_tenant_id_dm_member_id"),
        "channels",
        "members",
        ["tenant_id", "dm_member_id"],
        ["tenant_id", "id"],
        ondelete="CASCADE",
    )
    op.create_index(
        "uq_channels_tenant_id_dm_member_id",
        "channels",
        ["tenant_id", "dm_member_id"],
        unique=True,
        postgresql_where=sa.text("dm_member_id IS NOT NULL"),
    )
    op.add_column("messages", sa.Column("conversation_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_messages_tenant_id_conversation_id"),
        "messages",
        "conversations",
        ["tenant_id", "conversation_id"],
        ["tenant_id", "id"],
        ondelete="SET NULL (conversation_id)",
    )
    for table in ("channels", "messages", "members", "conversations"):
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.drop_constraint(op.f("fk_messages_tenant_id_conversation_id"), "messages")
    op.drop_column("messages", "conversation_id")
    op.drop_index("uq_channels_tenant_id_dm_member_id", "channels")
    op.drop_constraint(op.f("fk_channels_tenant_id_dm_member_id"), "channels")
    op.drop_column("channels", "dm_member_id")
