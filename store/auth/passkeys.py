"""WebAuthn passkeys with py_webauthn: registration, sign-in, and the rules the library leaves to us.

py_webauthn verifies signatures, origins, RP ID hashes and flags, but (notes/security-checks.md
4.1) it does not keep or consume challenges and does not require user verification by default.
So, here:

- Both ceremonies pass `require_user_verification=True`, and the options ask for it.
- A challenge (32 random bytes) is stored as a digest with its ceremony, the person or invite it
  is for, and a 5-minute expiry. Verification first consumes it with one
  `UPDATE ... WHERE used_at IS NULL AND expires_at > now RETURNING`, committed on its own: a
  second use of the same assertion finds nothing, even if the first verification failed, and two
  concurrent submissions cannot both succeed. The challenge is found through the one the client
  signed (in clientDataJSON), so no ceremony id travels separately.
- The RP ID is the host of FLOWGRID_PUBLIC_URL and the expected origin is that URL's origin,
  exactly (scheme, host and port).
- Sign counts: when the stored or the presented count is non-zero, the presented one must be
  greater. A regression on a correctly signed assertion is refused and flags the passkey (a
  possible cloned authenticator); synced passkeys that always report 0 stay usable.
"""

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from store.auth.digests import digest, new_secret
from store.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from store.models import Passkey, WebauthnChallenge
from store.runtime import Store

CHALLENGE_LIFETIME = timedelta(minutes=5)
CHALLENGE_BYTES = 32
TIMEOUT_MS = 120_000
_passkeys = Passkey.__table__  # pyright: ignore[reportAttributeAccessIssue]
_challenges = WebauthnChallenge.__table__  # pyright: ignore[reportAttributeAccessIssue]
REFUSED = "The passkey could not be verified."


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys are for: RP ID and origin, both from FLOWGRID_PUBLIC_URL."""

    id: str
    origin: str
    name: str = "FlowGrid"

    @classmethod
    def from_public_url(cls, public_url: str) -> "RelyingParty":
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"FLOWGRID_PUBLIC_URL {public_url!r} is not an http(s) URL")
        return cls(id=parts.hostname, origin=f"{parts.scheme}://{parts.netloc}".lower())


@dataclass(frozen=True)
class Challenge:
    """A consumed challenge: what the ceremony was for."""

    challenge: bytes
    identity_id: uuid.UUID | None
    invite_id: uuid.UUID | None


@dataclass(frozen=True)
class NewPasskey:
    """A verified registration, ready to store."""

    credential_id: str
    public_key: bytes
    sign_count: int
    transports: list[str]
    aaguid: str
    backup_eligible: bool
    backed_up: bool


@dataclass(frozen=True)
class PasskeyInfo:
    id: uuid.UUID
    aaguid: str
    backup_eligible: bool
    backed_up: bool
    created_at: datetime
    last_used_at: datetime | None
    flagged_at: datetime | None


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed_challenge(credential: dict[str, Any]) -> bytes:
    """The challenge the authenticator's client signed (from clientDataJSON), unverified."""
    try:
        client_data = json.loads(_unb64url(credential["response"]["clientDataJSON"]))
        return _unb64url(client_data["challenge"])
    except (KeyError, TypeError, ValueError, binascii.Error, UnicodeDecodeError):
        raise Unauthenticated(REFUSED) from None


async def _issue_challenge(
    db: AsyncSession,
    *,
    ceremony: str,
    now: datetime,
    identity_id: uuid.UUID | None = None,
    invite_id: uuid.UUID | None = None,
) -> bytes:
    challenge = _unb64url(new_secret())
    await db.execute(
        sa.insert(_challenges).values(
            id=uuid.uuid4(),
            challenge_hash=digest(challenge),
            ceremony=ceremony,
            identity_id=identity_id,
            invite_id=invite_id,
            created_at=now,
            expires_at=now + CHALLENGE_LIFETIME,
        )
    )
    return challenge


async def consume_challenge(
    store: Store, credential: dict[str, Any], *, ceremony: str, now: datetime
) -> Challenge:
    """Mark the signed challenge used, in its own committed transaction, or refuse.

    Committing before verification is the point: a failed or replayed verification can never
    get the challenge back.
    """
    challenge = signed_challenge(credential)
    async with store.dangerously_unscoped_session() as db:
        row = (
            await db.execute(
                sa.update(_challenges)
                .where(
                    _challenges.c.challenge_hash == digest(challenge),
                    _challenges.c.ceremony == ceremony,
                    _challenges.c.used_at.is_(None),
                    _challenges.c.expires_at > now,
                )
                .values(used_at=now)
                .returning(_challenges.c.identity_id, _challenges.c.invite_id)
            )
        ).one_or_none()
    if row is None:
        raise Unauthenticated("The passkey challenge is unknown, expired or already used.")
    return Challenge(challenge, row.identity_id, row.invite_id)


# --- registration -------------------------------------------------------------------------


async def registration_options(
    db: AsyncSession,
    rp: RelyingParty,
    *,
    identity_id: uuid.UUID,
    email: str,
    invite_id: uuid.UUID | None,
    now: datetime,
) -> dict[str, Any]:
    """Options for navigator.credentials.create(), as JSON-ready data; stores the challenge."""
    existing = (
        await db.execute(
            sa.select(_passkeys.c.credential_id).where(_passkeys.c.identity_id == identity_id)
        )
    ).scalars()
    challenge = await _issue_challenge(
        db, ceremony="register", now=now, identity_id=identity_id, invite_id=invite_id
    )
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=email,
        user_id=identity_id.bytes,
        user_display_name=email,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=_unb64url(c)) for c in existing],
    )
    return json.loads(options_to_json(options))


def verify_registration(
    rp: RelyingParty, credential: dict[str, Any], challenge: Challenge
) -> NewPasskey:
    """Check an attestation (UV required) against the consumed challenge; CPU only."""
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge.challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError):
        raise Unauthenticated(REFUSED) from None
    transports = credential.get("response", {}).get("transports") or []
    known = {t.value for t in AuthenticatorTransport}
    return NewPasskey(
        credential_id=_b64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=[t for t in transports if isinstance(t, str) and t in known],
        aaguid=verified.aaguid,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
    )


async def store_passkey(
    db: AsyncSession, identity_id: uuid.UUID, passkey: NewPasskey, now: datetime
) -> uuid.UUID:
    """Keep a verified credential for a person; a credential id registered before is refused."""
    taken = (
        await db.execute(
            sa.select(_passkeys.c.id).where(_passkeys.c.credential_id == passkey.credential_id)
        )
    ).first()
    if taken is not None:
        raise Conflict("This passkey is already registered.")
    passkey_id = uuid.uuid4()
    await db.execute(
        sa.insert(_passkeys).values(
            id=passkey_id,
            identity_id=identity_id,
            credential_id=passkey.credential_id,
            public_key=passkey.public_key,
            sign_count=passkey.sign_count,
            transports=passkey.transports,
            aaguid=passkey.aaguid,
            backup_eligible=passkey.backup_eligible,
            backed_up=passkey.backed_up,
            created_at=now,
        )
    )
    return passkey_id


# --- sign-in ------------------------------------------------------------------------------


async def authentication_options(
    db: AsyncSession, rp: RelyingParty, *, now: datetime
) -> dict[str, Any]:
    """Options for navigator.credentials.get(): discoverable credentials, UV required.

    No account is named, so the options say nothing about which emails have passkeys.
    """
    challenge = await _issue_challenge(db, ceremony="login", now=now)
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return json.loads(options_to_json(options))


async def verify_assertion(
    store: Store, rp: RelyingParty, credential: dict[str, Any], *, now: datetime
) -> uuid.UUID:
    """Verify a sign-in assertion; returns the identity it proves. Refusals raise.

    Order: consume the challenge (committed), find the credential, verify the signature and
    flags (UV required), then check and store the sign count in a second transaction, which
    also records a clone warning when the count went backwards.
    """
    challenge = await consume_challenge(store, credential, ceremony="login", now=now)
    credential_id = credential.get("rawId") or credential.get("id")
    if not isinstance(credential_id, str):
        raise Unauthenticated(REFUSED)
    async with store.dangerously_unscoped_session() as db:
        row = (
            await db.execute(
                sa.select(_passkeys).where(_passkeys.c.credential_id == credential_id.rstrip("="))
            )
        ).one_or_none()
    if row is None:
        raise Unauthenticated(REFUSED)
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge.challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=row.public_key,
            # 0 turns the library's counter check off; ours below runs only on a valid
            # signature, so a forged assertion cannot get a passkey flagged.
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError):
        raise Unauthenticated(REFUSED) from None
    regressed = (verified.new_sign_count > 0 or row.sign_count > 0) and (
        verified.new_sign_count <= row.sign_count
    )
    async with store.dangerously_unscoped_session() as db:
        if regressed:
            await db.execute(
                sa.update(_passkeys).where(_passkeys.c.id == row.id).values(flagged_at=now)
            )
        else:
            await db.execute(
                sa.update(_passkeys)
                .where(_passkeys.c.id == row.id)
                .values(
                    sign_count=verified.new_sign_count,
                    last_used_at=now,
                    backed_up=verified.credential_backed_up,
                )
            )
    if regressed:
        raise Unauthenticated(
            "This passkey's signature counter went backwards, which can mean it was copied; "
            "it was refused and flagged."
        )
    return row.identity_id


# --- management ---------------------------------------------------------------------------


async def list_passkeys(db: AsyncSession, identity_id: uuid.UUID) -> list[PasskeyInfo]:
    rows = (
        await db.execute(
            sa.select(_passkeys)
            .where(_passkeys.c.identity_id == identity_id)
            .order_by(_passkeys.c.created_at)
        )
    ).all()
    return [
        PasskeyInfo(
            r.id,
            r.aaguid,
            r.backup_eligible,
            r.backed_up,
            r.created_at,
            r.last_used_at,
            r.flagged_at,
        )
        for r in rows
    ]


async def remove_passkey(
    db: AsyncSession, identity_id: uuid.UUID, passkey_id: uuid.UUID, *, has_password: bool
) -> None:
    """Delete one of the person's passkeys; the last one stays when it is their only way in."""
    count = (
        await db.execute(sa.select(sa.func.count()).where(_passkeys.c.identity_id == identity_id))
    ).scalar_one()
    owned = (
        await db.execute(
            sa.select(_passkeys.c.id).where(
                _passkeys.c.id == passkey_id, _passkeys.c.identity_id == identity_id
            )
        )
    ).first()
    if owned is None:
        raise NotFound("passkey", passkey_id)
    if count == 1 and not has_password:
        raise Forbidden("This is your only way to sign in; add another passkey first.")
    await db.execute(sa.delete(_passkeys).where(_passkeys.c.id == passkey_id))
