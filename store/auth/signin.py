"""The ways in: password sign-in, invite acceptance, passkey enrollment and sign-in, sign-out.

Each flow ends in `start_session`, which mints a new session and revokes the one the browser came
with. Rules worth knowing:

- Password sign-in answers an unknown email, a wrong password and a platform admin (who has no
  password) with the same error after the same work: one lookup, one Argon2 verification (against
  a dummy hash when there is nothing to verify), one throttle update.
- Failures are counted in their own committed transaction, so an error response cannot roll the
  count back.
- An invite sets the first credential of an account that has none. It never replaces or adds
  credentials of an account that already has some (a leaked invite link must not take over an
  existing account); such a person signs in as usual.
- Platform admins have no password path: they enroll through a `flowgrid admin invite` link with
  a passkey and sign in with passkeys only (the database refuses them a password hash too).
"""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from store.auth import passkeys, passwords, throttle
from store.auth.digests import digest, new_secret
from store.auth.principals import Principal, workspace_session
from store.auth.sessions import (
    NewSession,
    SessionPolicy,
    resolve_session,
    revoke_session,
    start_session,
)
from store.errors import Conflict, Forbidden, Unauthenticated
from store.models import Identity, Invite, Member, Passkey, Tenant
from store.runtime import Store
from store.services.tenants import check_email
from store.tenancy import Role

LOGIN_FAILED = "Email or password is incorrect."
INVITE_INVALID = "This invite link is unknown, expired or already used."
ADMIN_INVITE_LIFETIME = timedelta(hours=24)
SIGNIN_ACTOR = "system:signin"  # reads a member row at sign-in; never writes
_identities = Identity.__table__  # pyright: ignore[reportAttributeAccessIssue]
_invites = Invite.__table__  # pyright: ignore[reportAttributeAccessIssue]
_members = Member.__table__  # pyright: ignore[reportAttributeAccessIssue]
_passkeys = Passkey.__table__  # pyright: ignore[reportAttributeAccessIssue]
_tenants = Tenant.__table__  # pyright: ignore[reportAttributeAccessIssue]


@dataclass(frozen=True)
class SignedIn:
    """A new session and the principal it stands for."""

    session: NewSession
    principal: Principal


@dataclass(frozen=True)
class InviteView:
    """What an invite link is for, shown before it is used."""

    email: str
    workspace_id: uuid.UUID | None
    workspace_name: str | None
    role: str | None
    platform_admin: bool
    has_credentials: bool
    expires_at: datetime


@dataclass(frozen=True)
class Me:
    """The signed-in person, their workspace and role."""

    identity_id: uuid.UUID
    email: str
    is_platform_admin: bool
    workspace_id: uuid.UUID | None
    workspace_name: str | None
    role: Role | None
    member_id: uuid.UUID | None
    auth_method: str


@dataclass(frozen=True)
class Attempt:
    """Where a sign-in comes from and which session it replaces."""

    now: datetime
    policy: SessionPolicy
    address: str | None = None
    replaces: str | None = None  # the cookie the browser presented, revoked on success


# --- password -----------------------------------------------------------------------------


async def login_with_password(
    store: Store,
    email: str,
    password: str,
    attempt: Attempt,
    *,
    workspace_id: uuid.UUID | None = None,
) -> SignedIn:
    """Sign in with email and password, into `workspace_id` or the one last used."""
    email = email.strip().lower()
    subjects = throttle.Subjects(account=email, address=attempt.address)
    async with store.dangerously_unscoped_session() as db:
        await throttle.check(db, subjects, attempt.now)
        row = (
            await db.execute(sa.select(_identities).where(_identities.c.email == email))
        ).one_or_none()
    stored = row.password_hash if row is not None and not row.is_platform_admin else None
    if not await asyncio.to_thread(passwords.verify_password, stored, password):
        async with store.dangerously_unscoped_session() as db:
            await throttle.record_failure(db, subjects, attempt.now)
        raise Unauthenticated(LOGIN_FAILED)
    assert row is not None and stored is not None
    tenant_id, member_id = await _membership(store, row.id, workspace_id or row.last_tenant_id)
    rehashed = (
        await asyncio.to_thread(passwords.hash_password, password)
        if passwords.needs_rehash(stored)
        else None
    )
    async with store.dangerously_unscoped_session() as db:
        await throttle.record_success(db, subjects)
        if rehashed is not None:
            # Compare-and-set: a password changed meanwhile is not overwritten with the old one.
            await db.execute(
                sa.update(_identities)
                .where(_identities.c.id == row.id, _identities.c.password_hash == stored)
                .values(password_hash=rehashed)
            )
        return await _start(
            db,
            attempt,
            identity_id=row.id,
            email=row.email,
            tenant_id=tenant_id,
            member_id=member_id,
            method="password",
            platform=False,
        )


# --- invites ------------------------------------------------------------------------------


async def inspect_invite(store: Store, token: str, now: datetime) -> InviteView:
    """What a usable invite is for; Unauthenticated when it is unknown, used or expired."""
    async with store.dangerously_unscoped_session() as db:
        invite = await _usable_invite(db, token, now)
        has_credentials = await _has_credentials(db, invite.email)
        name = None
        if invite.tenant_id is not None:
            name = (
                await db.execute(
                    sa.select(_tenants.c.name).where(_tenants.c.id == invite.tenant_id)
                )
            ).scalar_one_or_none()
    return InviteView(
        email=invite.email,
        workspace_id=invite.tenant_id,
        workspace_name=name,
        role=invite.role,
        platform_admin=invite.tenant_id is None,
        has_credentials=has_credentials,
        expires_at=invite.expires_at,
    )


async def accept_invite_with_password(
    store: Store, token: str, password: str, attempt: Attempt
) -> SignedIn:
    """Use a workspace invite to set the account's first password, and sign in."""
    view = await inspect_invite(store, token, attempt.now)
    if view.platform_admin:
        raise Forbidden("Platform admins sign in with a passkey only; register one instead.")
    if view.has_credentials:
        raise Conflict("This account can already sign in; sign in with your password or passkey.")
    passwords.check_password_rules(password, email=view.email)
    hashed = await asyncio.to_thread(passwords.hash_password, password)
    assert view.workspace_id is not None
    identity_id = await _identity_id(store, view.email)
    tenant_id, member_id = await _membership(store, identity_id, view.workspace_id)
    async with store.dangerously_unscoped_session() as db:
        await _consume_invite(db, token_hash=digest(token), now=attempt.now)
        updated = await db.execute(
            sa.update(_identities)
            .where(_identities.c.id == identity_id, _identities.c.password_hash.is_(None))
            .values(password_hash=hashed)
            .returning(_identities.c.id)
        )
        if updated.first() is None:
            raise Conflict("This account can already sign in; sign in with it.")
        return await _start(
            db,
            attempt,
            identity_id=identity_id,
            email=view.email,
            tenant_id=tenant_id,
            member_id=member_id,
            method="password",
            platform=False,
        )


async def invite_platform_admin(store: Store, email: str, now: datetime) -> tuple[str, datetime]:
    """A single-use passkey enrollment token for a platform admin (new or existing)."""
    email = check_email(email)
    token = new_secret()
    expires_at = now + ADMIN_INVITE_LIFETIME
    async with store.dangerously_unscoped_session() as db:
        row = (
            await db.execute(sa.select(_identities).where(_identities.c.email == email))
        ).one_or_none()
        if row is not None and not row.is_platform_admin:
            raise Conflict(
                f"{email} signs in to workspaces; a platform admin needs an address of their own"
            )
        if row is None:
            await db.execute(
                sa.insert(_identities).values(
                    id=uuid.uuid4(), email=email, is_platform_admin=True, created_at=now
                )
            )
        await db.execute(
            sa.insert(_invites).values(
                id=uuid.uuid4(),
                tenant_id=None,
                email=email,
                role=None,
                token_hash=digest(token),
                expires_at=expires_at,
                created_at=now,
            )
        )
    return token, expires_at


# --- passkeys -----------------------------------------------------------------------------


async def passkey_registration_options(
    store: Store,
    rp: passkeys.RelyingParty,
    *,
    principal: Principal | None,
    invite_token: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Options to register a passkey for the signed-in person, or for an invite's account."""
    invite_id = None
    if invite_token:
        view = await inspect_invite(store, invite_token, now)
        if view.has_credentials and not view.platform_admin:
            raise Conflict("This account can already sign in; sign in, then add a passkey.")
        identity_id, email = await _identity_id(store, view.email), view.email
        async with store.dangerously_unscoped_session() as db:
            invite_id = (await _usable_invite(db, invite_token, now)).id
    elif principal is not None and principal.credential == "session":
        identity_id, email = principal.identity_id, principal.email
    else:
        raise Unauthenticated("Sign in, or open your invite link, to register a passkey.")
    async with store.dangerously_unscoped_session() as db:
        return await passkeys.registration_options(
            db, rp, identity_id=identity_id, email=email, invite_id=invite_id, now=now
        )


async def passkey_registration_verify(
    store: Store,
    rp: passkeys.RelyingParty,
    credential: dict[str, Any],
    attempt: Attempt,
    *,
    principal: Principal | None,
) -> tuple[uuid.UUID, SignedIn | None]:
    """Store a verified passkey. Through an invite, this also uses the invite and signs in.

    Returns the passkey id and, for an invite, the new session.
    """
    challenge = await passkeys.consume_challenge(
        store, credential, ceremony="register", now=attempt.now
    )
    if challenge.identity_id is None:
        raise Unauthenticated(passkeys.REFUSED)
    if challenge.invite_id is None and (
        principal is None or principal.identity_id != challenge.identity_id
    ):
        raise Forbidden("This registration was started by another sign-in.")
    new = await asyncio.to_thread(passkeys.verify_registration, rp, credential, challenge)
    if challenge.invite_id is None:
        async with store.dangerously_unscoped_session() as db:
            passkey_id = await passkeys.store_passkey(db, challenge.identity_id, new, attempt.now)
        return passkey_id, None
    return await _enroll_through_invite(store, challenge, new, attempt)


async def _enroll_through_invite(
    store: Store, challenge: passkeys.Challenge, new: passkeys.NewPasskey, attempt: Attempt
) -> tuple[uuid.UUID, SignedIn]:
    assert challenge.identity_id is not None and challenge.invite_id is not None
    async with store.dangerously_unscoped_session() as db:
        identity = (
            await db.execute(
                sa.select(_identities).where(_identities.c.id == challenge.identity_id)
            )
        ).one()
        invite_tenant = (
            await db.execute(
                sa.select(_invites.c.tenant_id).where(_invites.c.id == challenge.invite_id)
            )
        ).scalar_one_or_none()
    platform = identity.is_platform_admin and invite_tenant is None
    tenant_id = member_id = None
    if not platform:
        tenant_id, member_id = await _membership(store, identity.id, invite_tenant)
    async with store.dangerously_unscoped_session() as db:
        await _consume_invite(db, invite_id=challenge.invite_id, now=attempt.now)
        passkey_id = await passkeys.store_passkey(db, identity.id, new, attempt.now)
        done = await _start(
            db,
            attempt,
            identity_id=identity.id,
            email=identity.email,
            tenant_id=tenant_id,
            member_id=member_id,
            method="passkey",
            platform=platform,
        )
    return passkey_id, done


async def passkey_login_options(
    store: Store, rp: passkeys.RelyingParty, now: datetime
) -> dict[str, Any]:
    async with store.dangerously_unscoped_session() as db:
        return await passkeys.authentication_options(db, rp, now=now)


async def login_with_passkey(
    store: Store,
    rp: passkeys.RelyingParty,
    credential: dict[str, Any],
    attempt: Attempt,
    *,
    workspace_id: uuid.UUID | None = None,
) -> SignedIn:
    """Sign in with a passkey: platform admins into the console, others into a workspace."""
    subjects = throttle.Subjects(account=None, address=attempt.address)
    async with store.dangerously_unscoped_session() as db:
        await throttle.check(db, subjects, attempt.now)
    try:
        identity_id = await passkeys.verify_assertion(store, rp, credential, now=attempt.now)
    except Unauthenticated:
        async with store.dangerously_unscoped_session() as db:
            await throttle.record_failure(db, subjects, attempt.now)
        raise
    async with store.dangerously_unscoped_session() as db:
        identity = (
            await db.execute(sa.select(_identities).where(_identities.c.id == identity_id))
        ).one()
    tenant_id = member_id = None
    if not identity.is_platform_admin:
        tenant_id, member_id = await _membership(
            store, identity.id, workspace_id or identity.last_tenant_id
        )
    async with store.dangerously_unscoped_session() as db:
        return await _start(
            db,
            attempt,
            identity_id=identity.id,
            email=identity.email,
            tenant_id=tenant_id,
            member_id=member_id,
            method="passkey",
            platform=identity.is_platform_admin,
        )


# --- the signed-in person -----------------------------------------------------------------


async def describe(store: Store, principal: Principal) -> Me:
    """The person, workspace and role behind a principal (role read from the workspace now)."""
    role: Role | None = None
    name = None
    if principal.tenant_id is not None:
        async with workspace_session(store, principal) as ts:
            role = ts.role
        async with store.dangerously_unscoped_session() as db:
            name = (
                await db.execute(
                    sa.select(_tenants.c.name).where(_tenants.c.id == principal.tenant_id)
                )
            ).scalar_one_or_none()
    return Me(
        identity_id=principal.identity_id,
        email=principal.email,
        is_platform_admin=principal.is_platform_admin,
        workspace_id=principal.tenant_id,
        workspace_name=name,
        role=role,
        member_id=principal.member_id,
        auth_method=principal.auth_method,
    )


async def has_password(store: Store, identity_id: uuid.UUID) -> bool:
    async with store.dangerously_unscoped_session() as db:
        stored = (
            await db.execute(
                sa.select(_identities.c.password_hash).where(_identities.c.id == identity_id)
            )
        ).scalar_one_or_none()
    return stored is not None


async def logout(store: Store, session_token: str | None, now: datetime) -> None:
    """End the session server-side; its cookie is worthless from now on."""
    if not session_token:
        return
    async with store.dangerously_unscoped_session() as db:
        await revoke_session(db, session_token, now)


# --- helpers ------------------------------------------------------------------------------


async def _membership(
    store: Store, identity_id: uuid.UUID, tenant_id: uuid.UUID | None
) -> tuple[uuid.UUID, uuid.UUID]:
    """The person's member id in a workspace (read in that workspace, under RLS)."""
    if tenant_id is None:
        raise Forbidden("You are not a member of any workspace yet; open your invite link.")
    async with store.tenant_session(tenant_id, SIGNIN_ACTOR, via="ui", role="viewer") as ts:
        member_id = (
            await ts.db.execute(
                sa.select(_members.c.id).where(
                    _members.c.tenant_id == tenant_id, _members.c.identity_id == identity_id
                )
            )
        ).scalar_one_or_none()
    if member_id is None:
        raise Forbidden("You are not a member of this workspace.")
    return tenant_id, member_id


async def _start(
    db: AsyncSession,
    attempt: Attempt,
    *,
    identity_id: uuid.UUID,
    email: str,
    tenant_id: uuid.UUID | None,
    member_id: uuid.UUID | None,
    method: str,
    platform: bool,
) -> SignedIn:
    """A new session; a workspace session also becomes the workspace the person returns to."""
    await _remember_workspace(db, identity_id, tenant_id)
    session = await start_session(
        db,
        identity_id=identity_id,
        scope="platform" if platform else "workspace",
        tenant_id=tenant_id,
        member_id=member_id,
        auth_method=method,
        user_verified=method == "passkey",
        now=attempt.now,
        policy=attempt.policy,
        replaces=attempt.replaces,
    )
    principal = Principal(
        identity_id=identity_id,
        email=email,
        credential="session",
        credential_id=session.id,
        tenant_id=tenant_id,
        member_id=member_id,
        is_platform_admin=platform,
        auth_method=method,
        user_verified=method == "passkey",
    )
    return SignedIn(session, principal)


async def _remember_workspace(
    db: AsyncSession, identity_id: uuid.UUID, tenant_id: uuid.UUID | None
) -> None:
    if tenant_id is not None:
        await db.execute(
            sa.update(_identities)
            .where(_identities.c.id == identity_id)
            .values(last_tenant_id=tenant_id)
        )


async def _usable_invite(db: AsyncSession, token: str, now: datetime) -> Any:
    row = (
        await db.execute(sa.select(_invites).where(_invites.c.token_hash == digest(token)))
    ).one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise Unauthenticated(INVITE_INVALID)
    return row


async def _consume_invite(
    db: AsyncSession,
    *,
    now: datetime,
    token_hash: str | None = None,
    invite_id: uuid.UUID | None = None,
) -> None:
    """Mark an invite used, atomically: of two concurrent acceptances, one wins."""
    which = (
        _invites.c.token_hash == token_hash
        if token_hash is not None
        else _invites.c.id == invite_id
    )
    used = await db.execute(
        sa.update(_invites)
        .where(which, _invites.c.used_at.is_(None), _invites.c.expires_at > now)
        .values(used_at=now)
        .returning(_invites.c.id)
    )
    if used.first() is None:
        raise Unauthenticated(INVITE_INVALID)


async def _has_credentials(db: AsyncSession, email: str) -> bool:
    row = (
        await db.execute(
            sa.select(_identities.c.id, _identities.c.password_hash).where(
                _identities.c.email == email
            )
        )
    ).one_or_none()
    if row is None:
        return False
    if row.password_hash is not None:
        return True
    keys = (
        await db.execute(sa.select(sa.func.count()).where(_passkeys.c.identity_id == row.id))
    ).scalar_one()
    return cast(int, keys) > 0


async def _identity_id(store: Store, email: str) -> uuid.UUID:
    async with store.dangerously_unscoped_session() as db:
        found = (
            await db.execute(sa.select(_identities.c.id).where(_identities.c.email == email))
        ).scalar_one_or_none()
    if found is None:
        raise Unauthenticated(INVITE_INVALID)
    return found


# --- session lookups and passkey management for the web layer ------------------------------


async def session_for_cookie(
    store: Store, token: str, *, now: datetime, policy: SessionPolicy
) -> Principal | None:
    """The principal of a live session cookie, or None (unknown, revoked or expired)."""
    try:
        async with store.dangerously_unscoped_session() as db:
            row = await resolve_session(db, token, now=now, policy=policy)
    except Unauthenticated:
        return None
    return Principal(
        identity_id=row.identity_id,
        email=row.email,
        credential="session",
        credential_id=row.id,
        tenant_id=row.tenant_id,
        member_id=row.member_id,
        is_platform_admin=row.is_platform_admin,
        auth_method=row.auth_method,
        user_verified=row.user_verified,
    )


async def my_passkeys(store: Store, identity_id: uuid.UUID) -> list[passkeys.PasskeyInfo]:
    async with store.dangerously_unscoped_session() as db:
        return await passkeys.list_passkeys(db, identity_id)


async def remove_my_passkey(store: Store, principal: Principal, passkey_id: uuid.UUID) -> None:
    """Remove one of the signed-in person's passkeys (never through an API token)."""
    if principal.credential != "session":
        raise Forbidden("API tokens cannot manage passkeys; sign in.")
    keeps_password = await has_password(store, principal.identity_id)
    async with store.dangerously_unscoped_session() as db:
        await passkeys.remove_passkey(
            db, principal.identity_id, passkey_id, has_password=keeps_password
        )
