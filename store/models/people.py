"""Who a small sales team works with: companies, contacts, and the team's own members."""

import uuid

import sqlalchemy as sa
from sqlmodel import Field

from store.models.base import (
    CustomizableRow,
    KeyedBy,
    Search,
    TenantRow,
    choice,
    reference,
    sealed,
    sealed_under,
    tenant_fk,
)
from store.models.platform import ROLES


class Member(TenantRow, table=True):
    """A person of this workspace with a role; the sign-in identity lives on the platform."""

    __tablename__ = "members"  # pyright: ignore[reportAssignmentType]

    identity_id: uuid.UUID = Field(
        foreign_key="identities.id", ondelete="CASCADE", description="The platform identity"
    )
    role: str = choice("Role in the workspace", options=ROLES, default="member")
    display_name: bytes | None = sealed(
        "Name shown to teammates", max_length=200, search=Search.WORDS
    )

    __table_args__ = (sa.UniqueConstraint("tenant_id", "identity_id"),)


class Company(CustomizableRow, table=True):
    """An organisation the team sells to or works with."""

    __tablename__ = "companies"  # pyright: ignore[reportAssignmentType]

    name: bytes | None = sealed("Company name", max_length=200, required=True, search=Search.WORDS)
    domain: bytes | None = sealed("Web domain, e.g. acme.com", max_length=253, search=Search.EXACT)
    industry: bytes | None = sealed("Industry", max_length=100)
    phone: bytes | None = sealed("Main phone number", max_length=50, search=Search.EXACT)
    address: bytes | None = sealed("Postal address", max_length=500)
    notes: bytes | None = sealed("Free-form notes", max_length=10000)
    owner_id: uuid.UUID | None = reference("members", "Team member who owns the account")

    __table_args__ = (tenant_fk("owner_id", "members"),)


class Contact(CustomizableRow, table=True):
    """A person at a company (or on their own). Sealed under the contact's own subject key."""

    __tablename__ = "contacts"  # pyright: ignore[reportAssignmentType]

    first_name: bytes | None = sealed("Given name", max_length=100, search=Search.WORDS)
    last_name: bytes | None = sealed("Family name", max_length=100, search=Search.WORDS)
    email: bytes | None = sealed("Email address", max_length=320, search=Search.EXACT)
    phone: bytes | None = sealed("Phone number", max_length=50, search=Search.EXACT)
    title: bytes | None = sealed("Job title", max_length=200)
    notes: bytes | None = sealed("Free-form notes", max_length=10000)
    company_id: uuid.UUID | None = reference("companies", "Company the contact works at")
    owner_id: uuid.UUID | None = reference("members", "Team member who owns the relationship")

    __table_args__ = (
        tenant_fk("company_id", "companies"),
        tenant_fk("owner_id", "members"),
        sealed_under(KeyedBy.SELF),
    )
