"""Who holds the key that signs checkpoints: never the database alone.

A checkpoint is worth something only if whoever can edit the database cannot produce one, so
the Ed25519 signing key lives with the key provider:

- `local`: a file `<keystore>/<tenant id>.audit.key` (mode 0600) beside the workspace KEK, in
  the keystore that must sit outside the database directory;
- any other provider (`aws`): a 32-byte seed made by the provider's `generate_data_key` (KMS
  `GenerateDataKey` under the workspace's KMS key, encryption context `{"tenant": id}`); the
  database keeps only the KMS-wrapped seed (`audit_signing_keys`), which it cannot unwrap.

This uses the providers' existing public methods only, so `store/crypto/providers.py` is
unchanged. Keys are named by `key_id` = "ed25519:" + the first 16 bytes of SHA-256 of the raw
public key, in hex; a checkpoint records the key_id it was signed with.
"""

import asyncio
import contextlib
import hashlib
import os
import uuid
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import insert, select

from store.crypto.providers import KeyProvider, LocalKeyProvider
from store.models import AuditSigningKey
from store.models.base import utcnow
from store.tenancy import TenantSession

_SEED_BYTES = 32
_signing_keys = AuditSigningKey.__table__  # pyright: ignore[reportAttributeAccessIssue]


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).digest()[:16].hex()


class SigningKeys(Protocol):
    async def signing_key(self, ts: TenantSession) -> tuple[str, Ed25519PrivateKey]:
        """The workspace's signing key (made on first use) and its key_id."""
        ...

    async def public_key(self, ts: TenantSession, key_id: str) -> Ed25519PublicKey | None:
        """The public key named `key_id`, or None when this workspace has no such key."""
        ...


class KeystoreSigningKeys:
    """One Ed25519 seed per workspace in the local keystore, 0600, written atomically."""

    def __init__(self, keystore: Path) -> None:
        self.keystore = keystore

    def path(self, tenant_id: uuid.UUID) -> Path:
        return self.keystore / f"{tenant_id}.audit.key"

    async def signing_key(self, ts: TenantSession) -> tuple[str, Ed25519PrivateKey]:
        key = await asyncio.to_thread(self._load_or_create, ts.tenant_id)
        return key_id_of(key.public_key()), key

    async def public_key(self, ts: TenantSession, key_id: str) -> Ed25519PublicKey | None:
        path = self.path(ts.tenant_id)
        if not path.exists():
            return None
        public = (await asyncio.to_thread(self._load_or_create, ts.tenant_id)).public_key()
        return public if key_id_of(public) == key_id else None

    def _load_or_create(self, tenant_id: uuid.UUID) -> Ed25519PrivateKey:
        path = self.path(tenant_id)
        if not path.exists():
            self._create(path)
        seed = path.read_bytes()
        if len(seed) != _SEED_BYTES:
            raise ValueError(f"the audit signing key {path.name} is damaged")
        return Ed25519PrivateKey.from_private_bytes(seed)

    def _create(self, path: Path) -> None:
        # Write a temporary file, then link it into place: link fails if another process won
        # the race, and nobody ever reads a half-written key.
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(os.urandom(_SEED_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)


class WrappedSigningKeys:
    """A seed from the provider's data-key generator, stored wrapped by the workspace KEK."""

    def __init__(self, provider: KeyProvider) -> None:
        self.provider = provider

    async def signing_key(self, ts: TenantSession) -> tuple[str, Ed25519PrivateKey]:
        row = (
            await ts.db.execute(
                select(_signing_keys.c.key_id, _signing_keys.c.wrapped)
                .where(_signing_keys.c.tenant_id == ts.tenant_id)
                .order_by(_signing_keys.c.created_at.desc(), _signing_keys.c.key_id)
                .limit(1)
            )
        ).one_or_none()
        if row is not None:
            key = await self._unwrap(ts, row.wrapped)
            if key_id_of(key.public_key()) == row.key_id:
                return row.key_id, key
        seed, wrapped = await asyncio.to_thread(
            self.provider.generate_data_key, ts.tenant_id, ts.key_ref
        )
        key = Ed25519PrivateKey.from_private_bytes(seed)
        key_id = key_id_of(key.public_key())
        await ts.db.execute(
            insert(_signing_keys).values(
                tenant_id=ts.tenant_id, key_id=key_id, created_at=utcnow(), wrapped=wrapped
            )
        )
        return key_id, key

    async def public_key(self, ts: TenantSession, key_id: str) -> Ed25519PublicKey | None:
        wrapped = (
            await ts.db.execute(
                select(_signing_keys.c.wrapped).where(
                    _signing_keys.c.tenant_id == ts.tenant_id, _signing_keys.c.key_id == key_id
                )
            )
        ).scalar()
        if wrapped is None:
            return None
        public = (await self._unwrap(ts, wrapped)).public_key()
        # The id is recomputed, never trusted from the row: a swapped row names no key.
        return public if key_id_of(public) == key_id else None

    async def _unwrap(self, ts: TenantSession, wrapped: bytes) -> Ed25519PrivateKey:
        seed = await asyncio.to_thread(self.provider.unwrap, ts.tenant_id, ts.key_ref, wrapped)
        return Ed25519PrivateKey.from_private_bytes(seed)


def signing_keys_for(provider: KeyProvider) -> SigningKeys:
    if isinstance(provider, LocalKeyProvider):
        return KeystoreSigningKeys(provider.keystore)
    return WrappedSigningKeys(provider)
