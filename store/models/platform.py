"""Platform tables: workspaces and the people who sign in. Not tenant-scoped, no RLS.

The app role reads these only through `store.tenancy.dangerously_unscoped_session`; the columns
hold no workspace records, only what FlowGrid staff manage.
"""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.sql.elements import conv
from sqlmodel import Field, SQLModel

from store.models.base import choice, public_text, utcnow

TENANT_STATUSES = ("active", "retired")
KEY_PROVIDERS = ("local", "aws")
ROLES = ("owner", "admin", "member", "viewer")


class Tenant(SQLModel, table=True):
    """A workspace. Its key reference points into the key provider, never at key material."""

    __tablename__ = "tenants"  # pyright: ignore[reportAssignmentType]

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = public_text(
        "Workspace name", reason="platform metadata shown to FlowGrid staff", max_length=120
    )
    status: str = choice("Lifecycle state", options=TENANT_STATUSES, default="active")
    key_provider: str = choice("Which key provider holds the KEK", options=KEY_PROVIDERS)
    key_ref: str = public_text(
        "Key id or alias in the provider", reason="a key identifier, not key material"
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    retired_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class Identity(SQLModel, table=True):
    """A person who can sign in (workspace user or platform admin)."""

    __tablename__ = "identities"  # pyright: ignore[reportAssignmentType]

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = public_text(
        "Sign-in email, lower-cased",
        reason="the login identifier must be looked up",
        max_length=320,
    )
    password_hash: str | None = public_text(
        "Argon2id hash", reason="a one-way password hash", max_length=512
    )
    is_platform_admin: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    last_tenant_id: uuid.UUID | None = Field(
        default=None,
        foreign_key="tenants.id",
        description="Workspace a password or passkey sign-in opens when none is named",
    )

    __table_args__ = (
        sa.UniqueConstraint("email"),
        # Platform admins sign in with passkeys only: the database refuses them a password.
        sa.CheckConstraint(
            "NOT (is_platform_admin AND password_hash IS NOT NULL)",
            name=conv("ck_identities_platform_admin_has_no_password"),
        ),
    )


class Invite(SQLModel, table=True):
    """A single-use, expiring invitation; only the token's hash is stored."""

    __tablename__ = "invites"  # pyright: ignore[reportAssignmentType]

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    tenant_id: uuid.UUID | None = Field(default=None, foreign_key="tenants.id")
    email: str = public_text("Invitee email", reason="the login identifier", max_length=320)
    role: str | None = choice("Role in the workspace", options=ROLES)
    token_hash: str = public_text(
        "SHA-256 of the invite token", reason="a one-way hash", max_length=64
    )
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))

    __table_args__ = (sa.UniqueConstraint("token_hash"),)


class SlackTeam(SQLModel, table=True):
    """Which workspace a Slack workspace's events belong to (read before any workspace is known)."""

    __tablename__ = "slack_teams"  # pyright: ignore[reportAssignmentType]

    team_id: str = Field(
        primary_key=True,
        sa_type=sa.Text,
        description="Slack workspace id (T...)",
        sa_column_kwargs={"info": {"public": "an opaque identifier"}},
    )
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
