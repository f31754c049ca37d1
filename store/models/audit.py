"""The audit trail: one hash chain of events per workspace, its head, and signed checkpoints.

Nothing in Python writes `audit_events` or `audit_heads`: the `audit_record_change` trigger
does, in the transaction of the change (store/migrations/ddl.py). The app role may only read
them. `store/audit/` verifies, exports and checkpoints the chain; docs/audit.md is the contract.
"""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from store.models.base import public_text

_IDENTIFIER = "an opaque identifier, never a person's name"


def _digest(description: str, reason: str) -> Any:
    return Field(
        sa_type=sa.LargeBinary,
        nullable=False,
        description=description,
        sa_column_kwargs={"info": {"public": reason}},
    )


def _row_image(description: str) -> Any:
    return Field(
        default=None,
        sa_type=JSONB,
        description=description,
        sa_column_kwargs={
            "info": {
                "public": "a copy of the audited row as stored: sealed columns stay ciphertext, "
                "key material and blind-index tokens are left out"
            }
        },
    )


def _instant(description: str) -> Any:
    return Field(sa_type=sa.DateTime(timezone=True), nullable=False, description=description)


def _sequence(description: str) -> Any:
    return Field(
        sa_type=sa.BigInteger,
        primary_key=True,
        nullable=False,
        description=description,
        sa_column_kwargs={"autoincrement": False},
    )


class AuditEvent(SQLModel, table=True):
    """One row changed: who, through what, what it was before and after. Append-only."""

    __tablename__ = "audit_events"  # pyright: ignore[reportAssignmentType]

    tenant_id: uuid.UUID = Field(primary_key=True, nullable=False)
    seq: int = _sequence("Position in the workspace's chain, 1, 2, 3... without gaps")
    id: uuid.UUID = Field(nullable=False, description="Event id")
    at: datetime = _instant("When the change was recorded (clock time, microseconds)")
    actor: str = public_text("Who acted, as kind:id", reason=_IDENTIFIER, max_length=256)
    via: str | None = public_text(
        "Channel: ui, api, agent, slack, cli, system", reason="a channel name", max_length=16
    )
    run_id: str | None = public_text("Agent run, for agent actors", reason=_IDENTIFIER)
    tool_call_id: str | None = public_text("Tool call, for agent actors", reason=_IDENTIFIER)
    action: str = public_text(
        "insert, update, delete or erase", reason="an operation name", max_length=16
    )
    table_name: str = public_text("Table of the row", reason="schema metadata", max_length=64)
    record_id: uuid.UUID | None = Field(default=None, description="Id of the row")
    before: dict[str, Any] | None = _row_image("The row before the change")
    after: dict[str, Any] | None = _row_image("The row after the change")
    prev_hash: bytes = _digest("Hash of the previous event", "a SHA-256 digest")
    hash: bytes = _digest("SHA-256 over prev_hash and this event", "a SHA-256 digest")

    __table_args__ = (sa.Index("ix_audit_events_tenant_record", "tenant_id", "record_id"),)


class AuditHead(SQLModel, table=True):
    """The newest (seq, hash) of a workspace's chain; its row lock serialises the writers."""

    __tablename__ = "audit_heads"  # pyright: ignore[reportAssignmentType]

    tenant_id: uuid.UUID = Field(primary_key=True, nullable=False)
    seq: int = Field(sa_type=sa.BigInteger, nullable=False, description="Newest event's seq")
    hash: bytes = _digest("Newest event's hash", "a SHA-256 digest")


class AuditCheckpoint(SQLModel, table=True):
    """A chain head signed with a key the database does not hold. Append-only."""

    __tablename__ = "audit_checkpoints"  # pyright: ignore[reportAssignmentType]

    tenant_id: uuid.UUID = Field(primary_key=True, nullable=False)
    seq: int = _sequence("Seq of the event signed")
    hash: bytes = _digest("Hash of that event", "a SHA-256 digest")
    signed_at: datetime = _instant("When it was signed")
    key_id: str = public_text("Signing key fingerprint", reason="a key identifier", max_length=64)
    signature: bytes = _digest("Ed25519 signature", "a signature over public values")


class AuditSigningKey(SQLModel, table=True):
    """A checkpoint signing key wrapped by the workspace KEK, for providers without a keystore.

    Useless without the key provider: the database alone can neither sign nor forge.
    """

    __tablename__ = "audit_signing_keys"  # pyright: ignore[reportAssignmentType]

    tenant_id: uuid.UUID = Field(primary_key=True, nullable=False)
    key_id: str = Field(
        primary_key=True,
        nullable=False,
        max_length=64,
        sa_type=sa.Text,
        description="Fingerprint of the public key",
        sa_column_kwargs={"info": {"public": "a key identifier"}},
    )
    created_at: datetime = _instant("When it was made")
    wrapped: bytes = Field(
        sa_type=sa.LargeBinary,
        nullable=False,
        description="Ed25519 seed wrapped by the workspace KEK",
        sa_column_kwargs={"info": {"wrapped_key": True}},
    )
