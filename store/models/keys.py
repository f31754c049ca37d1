"""Key material a workspace's data is sealed under, itself sealed: nothing here is usable alone."""

import uuid

import sqlalchemy as sa
from sqlmodel import Field

from store.models.base import TenantRow, public_text


class DataKey(TenantRow, table=True):
    """A version of the workspace data key (DEK), wrapped by the workspace KEK in the provider."""

    __tablename__ = "data_keys"  # pyright: ignore[reportAssignmentType]

    key_version: int = Field(ge=1, description="Data key version, written into every ciphertext")
    wrapped: bytes = Field(
        sa_type=sa.LargeBinary,
        description="DEK encrypted by the KEK",
        sa_column_kwargs={"info": {"wrapped_key": True}},
    )
    kek_ref: str = public_text("KEK that wrapped it", reason="a key identifier", max_length=256)

    __table_args__ = (sa.UniqueConstraint("tenant_id", "key_version"),)


class SubjectKey(TenantRow, table=True):
    """A contact's own key, wrapped by the DEK. Shredding it makes that contact unreadable.

    `id` equals the contact's id: one key per data subject. Notes and activities about the
    contact are sealed under it too (`KeyedBy.LINKED_CONTACT`).
    """

    __tablename__ = "subject_keys"  # pyright: ignore[reportAssignmentType]

    key_version: int = Field(ge=1, description="DEK version that wraps this key")
    wrapped: bytes = Field(
        sa_type=sa.LargeBinary,
        description="Subject key encrypted by the DEK",
        sa_column_kwargs={"info": {"wrapped_key": True}},
    )
    # A merge keeps the duplicate's key (undo restores the duplicate from the trail) but ties it
    # to the survivor: the same person, so erasing the survivor shreds this key as well.
    merged_into: uuid.UUID | None = Field(
        default=None, description="The contact this one was merged into"
    )

    __table_args__ = (sa.Index("ix_subject_keys_tenant_merged", "tenant_id", "merged_into"),)


class SearchToken(TenantRow, table=True):
    """A blind-index token: a truncated keyed hash of a normalised value or word prefix."""

    __tablename__ = "search_tokens"  # pyright: ignore[reportAssignmentType]

    table_name: str = public_text("Table of the record", reason="schema metadata", max_length=64)
    column_name: str = public_text("Column indexed", reason="schema metadata", max_length=64)
    record_id: uuid.UUID = Field(description="Record the token points at")
    token: bytes = Field(
        sa_type=sa.LargeBinary,
        description="Truncated HMAC-SHA256",
        sa_column_kwargs={"info": {"blind_index": True}},
    )

    __table_args__ = (
        sa.Index("ix_search_tokens_lookup", "tenant_id", "table_name", "column_name", "token"),
        sa.Index("ix_search_tokens_record", "tenant_id", "record_id"),
    )
