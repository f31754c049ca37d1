"""erasure reaches linked rows: subject keys remember merges, approvals link their contact

`subject_keys.merged_into`: erasing the survivor of a merge shreds the duplicate's key too.
`approval_requests.record_type/record_id`: an approval quoting a contact is sealed under that
contact's key (KeyedBy.LINKED_CONTACT) and deleted with the contact on erasure.

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


RECORD_TYPES = ("company", "contact", "deal", "product", "task", "ticket")


def upgrade() -> None:
    op.add_column("subject_keys", sa.Column("merged_into", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_subject_keys_tenant_merged", "subject_keys", ["tenant_id", "merged_into"], unique=False
    )
    op.add_column(
        "approval_requests",
        sa.Column(
            "record_type",
            sa.Enum(*RECORD_TYPES, native_enum=False, create_constraint=True, length=32),
            nullable=True,
        ),
    )
    op.add_column("approval_requests", sa.Column("record_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_approval_requests_tenant_record",
        "approval_requests",
        ["tenant_id", "record_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_approval_requests_tenant_record", table_name="approval_requests")
    op.drop_column("approval_requests", "record_id")
    op.drop_column("approval_requests", "record_type")
    op.drop_index("ix_subject_keys_tenant_merged", table_name="subject_keys")
    op.drop_column("subject_keys", "merged_into")
