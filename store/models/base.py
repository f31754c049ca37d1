"""Building blocks every table uses, and the one place a column's data class is declared.

Each user-entered text column is declared with `sealed(...)` (stored as AES-256-GCM ciphertext,
`bytea`) or `public_text(...)` (stored as plaintext, with the reason it may be). Ids, foreign keys,
timestamps, enums (`choice(...)`) and amounts are plaintext so the database can filter and
aggregate. `tests/store/test_catalog.py` fails on a text column declared neither way.
"""

import uuid
from collections.abc import Mapping
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


class KeyedBy(StrEnum):
    """Whose key seals a table's sealed columns (declared per table with `sealed_under`)."""

    WORKSPACE = "workspace"  # the workspace data key (DEK): the default
    SELF = "self"  # the row's own subject key; erasing the row shreds it (contacts)
    # The subject key of the contact the row is about (`record_type` = "contact", `record_id`),
    # else the DEK: what is written about a person becomes unreadable with that person.
    LINKED_CONTACT = "linked contact"


def sealed_under(keyed_by: KeyedBy) -> dict[str, Any]:
    """A `__table_args__` entry declaring whose key seals the table (see `KeyedBy`)."""
    return {"info": {"keyed_by": keyed_by}}


def keyed_by(table: sa.Table) -> KeyedBy:
    return table.info.get("keyed_by", KeyedBy.WORKSPACE)


def subject_of(table: sa.Table, row_id: Any, row: Mapping[str, Any]) -> uuid.UUID | None:
    """The data subject whose key seals this row of `table`, or None for the workspace key.

    `row` holds the row's plaintext columns (a live row, or an audit image where ids are text).
    """
    match keyed_by(table):
        case KeyedBy.SELF:
            return _as_uuid(row_id)
        case KeyedBy.LINKED_CONTACT if row.get("record_type") == "contact":
            return _as_uuid(row.get("record_id"))
        case _:
            return None


def _as_uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


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
