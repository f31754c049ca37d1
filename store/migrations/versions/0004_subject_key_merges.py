"""subject keys remember a merge: erasing the survivor shreds the merged duplicate's key too

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("subject_keys", sa.Column("merged_into", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_subject_keys_tenant_merged", "subject_keys", ["tenant_id", "merged_into"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_subject_keys_tenant_merged", table_name="subject_keys")
    op.drop_column("subject_keys", "merged_into")
