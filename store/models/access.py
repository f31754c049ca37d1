"""Sign-in and access: sessions, API tokens, passkeys, WebAuthn challenges, throttling.

Most are platform tables (no RLS, listed in `store.models.PLATFORM_TABLES`): they say who may
act, not what a workspace holds, and sign-in reads them before any workspace is known. Secrets
never sit here in a usable form: a session id, an API token secret and a WebAuthn challenge are
stored only as SHA-256 digests (each is at least 128 random bits, so a plain digest is enough;
Argon2 is for low-entropy passwords). On the platform tables the app role may select, insert
and update; it may delete only passkeys (a person removes one), and marks sessions revoked
instead of deleting them. Tokens are marked revoked too, though their table, a tenant table,
grants DELETE like every other (removing a member deletes the member's tokens).

Two are tenant tables, under RLS and audited like every other: `ApiToken` (a token names its
workspace, so it is looked up inside that workspace's session and no workspace can read another's
tokens), and `PlatformEvent`, so that a platform admin's action on a workspace (retiring its
key, say) leaves a row in that workspace's audit trail.
"""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from store.models.base import TenantRow, choice, public_text, utcnow
from store.models.platform import ROLES

SESSION_SCOPES = ("workspace", "platform")
AUTH_METHODS = ("password", "passkey")
TOKEN_KINDS = ("api", "bot")
CEREMONIES = ("register", "login")
THROTTLE_SCOPES = ("account", "address")
PLATFORM_ACTIONS = ("workspace.created", "workspace.key_retired")

_DIGEST = "a SHA-256 digest of a random secret; the secret itself is never stored"


def _instant(description: str, *, required: bool = True) -> Any:
    if required:
        return Field(
            default_factory=utcnow,
            sa_type=sa.DateTime(timezone=True),
            nullable=False,
            description=description,
        )
    return Field(default=None, sa_type=sa.DateTime(timezone=True), description=description)


def _digest(description: str, *, verifier: bool = False) -> Any:
    """A digest column; a `verifier` (it checks a credential) is also kept out of audit images."""
    field = public_text(description, reason=_DIGEST, max_length=64)
    if verifier:
        field.sa_column_kwargs["info"]["verifier"] = True
    return field


class AuthSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random id; only its SHA-256 is kept here.

    The CSRF token is derived from the cookie's secret (an HMAC, see `store.auth.sessions`), so
    no CSRF secret needs a column: whoever cannot read the cookie cannot compute it.
    """

    __tablename__ = "sessions"  # pyright: ignore[reportAssignmentType]

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    token_hash: str = _digest("SHA-256 of the session cookie's secret")
    identity_id: uuid.UUID = Field(foreign_key="identities.id", ondelete="CASCADE")
    scope: str = choice("Workspace user or platform admin session", options=SESSION_SCOPES)
    tenant_id: uuid.UUID | None = Field(
        default=None, foreign_key="tenants.id", description="Current workspace"
    )
    member_id: uuid.UUID | None = Field(default=None, description="Member in that workspace")
    auth_method: str = choice("How the person proved who they are", options=AUTH_METHODS)
    user_verified: bool = Field(
        default=False, description="A WebAuthn ceremony with the UV flag created this session"
    )
    created_at: datetime = _instant("Sign-in time")
    last_seen_at: datetime = _instant("Last request (updated at most once a minute)")
    idle_expires_at: datetime = _instant("Ends unless used before this")
    expires_at: datetime = _instant("Ends at this time whatever happens (absolute timeout)")
    revoked_at: datetime | None = _instant("Signed out or replaced", required=False)

    __table_args__ = (
        sa.UniqueConstraint("token_hash"),
        sa.Index("ix_sessions_identity_id", "identity_id"),
    )


class ApiToken(TenantRow, table=True):
    """A program's credential for one member of one workspace, at most that member's role.

    Shown once as `fg_<workspace id hex>_<token id hex>_<secret>` (`fgb_` for bot tokens). A
    tenant table like any other: the workspace id in the token opens that workspace's session,
    the token id finds the row under RLS, and the secret is compared by digest in constant time.
    """

    __tablename__ = "api_tokens"  # pyright: ignore[reportAssignmentType]

    member_id: uuid.UUID = Field(description="The member the token acts for")
    name: str = public_text(
        "What the token is for, e.g. 'nightly export'",
        reason="a label an admin gives a credential, shown in token lists",
        max_length=120,
    )
    role: str = choice("Highest role the token may use", options=ROLES)
    kind: str = choice("An API token, or a Slack-style bot token for Nexus", options=TOKEN_KINDS)
    secret_hash: str = _digest("SHA-256 of the token's secret", verifier=True)
    last_used_at: datetime | None = _instant("Last authenticated request", required=False)
    expires_at: datetime | None = _instant("Optional end of validity", required=False)
    revoked_at: datetime | None = _instant("When it was revoked", required=False)

    __table_args__ = (
        # Composite, like every reference into a workspace: the member must be of that tenant.
        sa.ForeignKeyConstraint(
            ["tenant_id", "member_id"], ["members.tenant_id", "members.id"], ondelete="CASCADE"
        ),
    )


class Passkey(SQLModel, table=True):
    """A WebAuthn credential: a public key an authenticator holds the private half of."""

    __tablename__ = "passkeys"  # pyright: ignore[reportAssignmentType]

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    identity_id: uuid.UUID = Field(foreign_key="identities.id", ondelete="CASCADE")
    credential_id: str = public_text(
        "Credential id, base64url",
        reason="an opaque identifier the authenticator chose",
        max_length=1400,
    )
    public_key: bytes = Field(
        sa_type=sa.LargeBinary,
        nullable=False,
        description="COSE public key",
        sa_column_kwargs={"info": {"public": "a public key"}},
    )
    sign_count: int = Field(default=0, sa_type=sa.BigInteger, nullable=False)
    transports: list[str] | None = Field(
        default=None,
        sa_type=JSONB,
        sa_column_kwargs={"info": {"public": "transport names such as 'usb' or 'internal'"}},
    )
    aaguid: str = public_text(
        "Authenticator model id", reason="identifies a device model, not a person", max_length=36
    )
    backup_eligible: bool = Field(default=False, description="Multi-device (synced) credential")
    backed_up: bool = Field(default=False, description="Currently backed up")
    created_at: datetime = _instant("Registration time")
    last_used_at: datetime | None = _instant("Last sign-in with it", required=False)
    flagged_at: datetime | None = _instant(
        "When its signature counter went backwards (a possible clone)", required=False
    )

    __table_args__ = (
        sa.UniqueConstraint("credential_id"),
        sa.Index("ix_passkeys_identity_id", "identity_id"),
    )


class WebauthnChallenge(SQLModel, table=True):
    """A ceremony's challenge, kept server-side, expiring, consumed at most once."""

    __tablename__ = "webauthn_challenges"  # pyright: ignore[reportAssignmentType]

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    challenge_hash: str = _digest("SHA-256 of the challenge bytes")
    ceremony: str = choice("Which ceremony it belongs to", options=CEREMONIES)
    identity_id: uuid.UUID | None = Field(
        default=None, foreign_key="identities.id", ondelete="CASCADE"
    )
    invite_id: uuid.UUID | None = Field(default=None, foreign_key="invites.id")
    created_at: datetime = _instant("When it was issued")
    expires_at: datetime = _instant("Refused after this")
    used_at: datetime | None = _instant("When it was consumed", required=False)

    __table_args__ = (sa.UniqueConstraint("challenge_hash"),)


class AuthThrottle(SQLModel, table=True):
    """Failed sign-in attempts per account and per client address, in a fixed window."""

    __tablename__ = "auth_throttle"  # pyright: ignore[reportAssignmentType]

    scope: str = Field(
        primary_key=True,
        sa_type=sa.Enum(*THROTTLE_SCOPES, native_enum=False, create_constraint=True, length=32),
        sa_column_kwargs={"info": {"choices": THROTTLE_SCOPES}},
    )
    subject: str = Field(
        primary_key=True,
        sa_type=sa.Text,
        max_length=64,
        description="SHA-256 of the lower-cased email or of the client address",
        sa_column_kwargs={"info": {"public": _DIGEST.replace("random secret", "login name")}},
    )
    failures: int = Field(default=0, nullable=False)
    window_started_at: datetime = _instant("Start of the current counting window")


class PlatformEvent(TenantRow, table=True):
    """A platform admin's action on this workspace, so the workspace's own trail shows it."""

    __tablename__ = "platform_events"  # pyright: ignore[reportAssignmentType]

    action: str = choice("What the platform did", options=PLATFORM_ACTIONS)
    admin_identity_id: uuid.UUID | None = Field(
        default=None, description="The platform admin who acted (no foreign key: staff change)"
    )
