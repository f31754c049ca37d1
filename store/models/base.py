"""Building blocks every table uses, and the one place a column's data class is declared.

Each user-entered text column is declared with `sealed(...)` (stored as AES-256-GCM ciphertext,
`bytea`) or `public_text(...)` (stored as plaintext, with the reason it may be). Ids, foreign keys,
timestamps, enums (`choice(...)`) and amounts are plaintext so the database can filter and
aggregate. `tests/store/test_catalog.py` fails on a text column declared neither way.
"""

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# Names for every constraint, so migrations are stable and errors are recognisable.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

TENANT_KEY = "tenant_id"
SYSTEM_FIELDS = frozenset({TENANT_KEY, "id", "created_at", "updated_at", "version"})


class Search(StrEnum):
    """How a sealed column can be searched through its blind index."""

    EXACT = "exact"  # whole normalised value: email, phone, domain
    WORDS = "words"  # each word and its prefixes: names


def utcnow() -> datetime:
    return datetime.now(UTC)


def sealed(
    description: str,
    *,
    max_length: int = 1000,
    required: bool = False,
    search: Search | None = None,
    kind: str = "text",
) -> Any:
    """A user-entered value stored encrypted; `kind` is `text` or `json`."""
    return Field(
        default=None,
        sa_type=sa.LargeBinary,
        description=description,
        sa_column_kwargs={
            "info": {
                "sealed": True,
                "max_length": max_length,
                "required": required,
                "search": search,
                "kind": kind,
            }
        },
    )


def public_text(
    description: str, *, reason: str, max_length: int = 200, default: Any = None
) -> Any:
    """Text stored in plaintext; `reason` says why that is acceptable (it is reviewed in tests)."""
    return Field(
        default=default,
        sa_type=sa.Text,
        description=description,
        max_length=max_length,
        sa_column_kwargs={"info": {"public": reason}},
    )


def choice(description: str, *, options: tuple[str, ...], default: str | None = None) -> Any:
    """An enum stored as text with a CHECK constraint; the options become a Literal in schemas."""
    return Field(
        default=default,
        sa_type=sa.Enum(*options, native_enum=False, create_constraint=True, length=32),
        description=description,
        sa_column_kwargs={"info": {"choices": options}},
    )


def reference(target_table: str, description: str, *, required: bool = False) -> Any:
    """A UUID pointing at another record of the same workspace (see `tenant_fk`)."""
    return Field(
        default=None,
        nullable=not required,
        description=description,
        sa_column_kwargs={"info": {"references": target_table}},
    )


def tenant_fk(
    column: str, target_table: str, *, ondelete: str = "SET NULL"
) -> sa.ForeignKeyConstraint:
    """Composite foreign key `(tenant_id, column) -> target(tenant_id, id)`.

    Including the tenant makes a reference to another workspace's row fail exactly like a
    reference to a row that does not exist (no existence oracle), and keeps rows co-located when
    the tables are distributed by tenant. `SET NULL` names the column so the tenant id is kept.
    """
    action = f"SET NULL ({column})" if ondelete == "SET NULL" else ondelete
    return sa.ForeignKeyConstraint(
        [TENANT_KEY, column],
        [f"{target_table}.{TENANT_KEY}", f"{target_table}.id"],
        ondelete=action,
    )


class TenantRow(SQLModel):
    """Columns every tenant-owned table starts with: the tenant leads the primary key."""

    tenant_id: uuid.UUID = Field(primary_key=True, nullable=False)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True, nullable=False)
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False
    )
    version: int = Field(
        default=1, nullable=False, description="Row version for optimistic concurrency"
    )


class CustomizableRow(TenantRow):
    """A tenant row that also carries the workspace's custom field values, sealed as one JSON."""

    custom: bytes | None = sealed("Workspace custom fields", kind="json", max_length=20000)
