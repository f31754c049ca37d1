"""Server-side browser sessions: minted at sign-in, checked on every request, revoked on logout.

- The cookie carries 256 random bits; the table keeps only their SHA-256, so a copy of the
  database signs no one in.
- Every sign-in mints a new session and revokes the one the browser presented (rotation: a
  session id planted before sign-in is worthless after it).
- Two timeouts, both enforced here on the server: idle (no request for `idle`) and absolute
  (`absolute` after sign-in, however active). Platform admins get shorter ones.
- The CSRF token is an HMAC of the cookie's secret: bound to the session, nothing to store, and
  not computable by a page that cannot read the (HttpOnly) cookie.
"""

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from store.auth.digests import digest, new_secret
from store.errors import Unauthenticated
from store.models import AuthSession, Identity

_sessions = AuthSession.__table__  # pyright: ignore[reportAttributeAccessIssue]
_identities = Identity.__table__  # pyright: ignore[reportAttributeAccessIssue]
_CSRF_LABEL = b"flowgrid csrf v1"
SIGNED_OUT = "Your session has ended; sign in again."


@dataclass(frozen=True)
class SessionPolicy:
    """Timeouts; the defaults suit a sales team's working day and a staff console."""

    idle: timedelta = timedelta(hours=12)
    absolute: timedelta = timedelta(days=7)
    platform_idle: timedelta = timedelta(minutes=30)
    platform_absolute: timedelta = timedelta(hours=12)
    touch_every: timedelta = timedelta(minutes=1)  # bounds the writes a busy session causes

    def limits(self, scope: str) -> tuple[timedelta, timedelta]:
        if scope == "platform":
            return self.platform_idle, self.platform_absolute
        return self.idle, self.absolute


@dataclass(frozen=True)
class NewSession:
    """A session just minted: `token` goes into the cookie and is never seen again."""

    id: uuid.UUID
    token: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class SessionRow:
    """A live session as a request sees it."""

    id: uuid.UUID
    identity_id: uuid.UUID
    email: str
    is_platform_admin: bool
    scope: str
    tenant_id: uuid.UUID | None
    member_id: uuid.UUID | None
    auth_method: str
    user_verified: bool


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 keyed by the cookie's secret."""
    return hmac.new(session_token.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, presented: str | None) -> bool:
    """Constant-time check of a presented CSRF token against the session's."""
    if not presented:
        return False
    return hmac.compare_digest(csrf_token_for(session_token).encode(), presented.encode())


async def start_session(
    db: AsyncSession,
    *,
    identity_id: uuid.UUID,
    scope: str,
    tenant_id: uuid.UUID | None,
    member_id: uuid.UUID | None,
    auth_method: str,
    user_verified: bool,
    now: datetime,
    policy: SessionPolicy,
    replaces: str | None = None,
) -> NewSession:
    """Mint a session; the one whose cookie came with the sign-in request is revoked."""
    if replaces:
        await revoke_session(db, replaces, now)
    idle, absolute = policy.limits(scope)
    token = new_secret()
    session_id = uuid.uuid4()
    expires_at = now + absolute
    await db.execute(
        sa.insert(_sessions).values(
            id=session_id,
            token_hash=digest(token),
            identity_id=identity_id,
            scope=scope,
            tenant_id=tenant_id,
            member_id=member_id,
            auth_method=auth_method,
            user_verified=user_verified,
            created_at=now,
            last_seen_at=now,
            idle_expires_at=min(now + idle, expires_at),
            expires_at=expires_at,
        )
    )
    return NewSession(session_id, token, csrf_token_for(token), expires_at)


async def resolve_session(
    db: AsyncSession, token: str, *, now: datetime, policy: SessionPolicy
) -> SessionRow:
    """The live session for a cookie value, or Unauthenticated. Extends the idle deadline."""
    row = (
        await db.execute(
            sa.select(
                _sessions,
                _identities.c.email,
                _identities.c.is_platform_admin,
            )
            .join(_identities, _identities.c.id == _sessions.c.identity_id)
            .where(_sessions.c.token_hash == digest(token))
        )
    ).one_or_none()
    if (
        row is None
        or row.revoked_at is not None
        or row.idle_expires_at <= now
        or row.expires_at <= now
        # A platform session must stay a platform admin's, and a workspace one must not be.
        or (row.scope == "platform") != row.is_platform_admin
    ):
        raise Unauthenticated(SIGNED_OUT)
    if row.last_seen_at + policy.touch_every <= now:
        idle, _ = policy.limits(row.scope)
        await db.execute(
            sa.update(_sessions)
            .where(_sessions.c.id == row.id)
            .values(last_seen_at=now, idle_expires_at=sa.func.least(now + idle, row.expires_at))
        )
    return SessionRow(
        id=row.id,
        identity_id=row.identity_id,
        email=row.email,
        is_platform_admin=row.is_platform_admin,
        scope=row.scope,
        tenant_id=row.tenant_id,
        member_id=row.member_id,
        auth_method=row.auth_method,
        user_verified=row.user_verified,
    )


async def revoke_session(db: AsyncSession, token: str, now: datetime) -> bool:
    """Mark the session revoked; True when there was a live one."""
    result = await db.execute(
        sa.update(_sessions)
        .where(_sessions.c.token_hash == digest(token), _sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(_sessions.c.id)
    )
    return result.first() is not None


async def revoke_all_for(db: AsyncSession, identity_id: uuid.UUID, now: datetime) -> None:
    """End every session of a person (their credentials changed)."""
    await db.execute(
        sa.update(_sessions)
        .where(_sessions.c.identity_id == identity_id, _sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
