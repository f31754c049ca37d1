"""audit trail

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 17:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from store.migrations.ddl import (
    audit_every_tenant_table,
    create_audit_functions,
    drop_audit_functions,
    keep_head_in_sync,
    make_append_only,
    secure_trail_table,
)

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What the app role may do on each table of the trail; nothing may UPDATE or DELETE them.
TRAIL_GRANTS = {
    "audit_events": "SELECT",
    "audit_heads": "SELECT",
    "audit_checkpoints": "SELECT, INSERT",
    "audit_signing_keys": "SELECT, INSERT",
}
APPEND_ONLY = ("audit_events", "audit_checkpoints", "audit_signing_keys")


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("via", sa.Text(), nullable=True),
        sa.Column("run_id", sa.Text(), nullable=True),
        sa.Column("tool_call_id", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("prev_hash", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_audit_events")),
    )
    op.create_index(
        "ix_audit_events_tenant_record", "audit_events", ["tenant_id", "record_id"], unique=False
    )
    op.create_table(
        "audit_heads",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_audit_heads")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_signing_keys",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key_id", name=op.f("pk_audit_signing_keys")),
    )
    create_audit_functions()
    for table, privileges in TRAIL_GRANTS.items():
        secure_trail_table(table, privileges)
    for table in APPEND_ONLY:
        make_append_only(table)
    keep_head_in_sync()
    audit_every_tenant_table()


def downgrade() -> None:
    op.execute(
        "DO $$ DECLARE t record; BEGIN "
        "FOR t IN SELECT tgrelid::regclass AS rel FROM pg_trigger WHERE tgname = 'audit_row' LOOP "
        "EXECUTE format('DROP TRIGGER audit_row ON %s', t.rel); END LOOP; END $$"
    )
    op.drop_table("audit_signing_keys")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_heads")
    op.drop_index("ix_audit_events_tenant_record", table_name="audit_events")
    op.drop_table("audit_events")
    drop_audit_functions()
