"""Signed checkpoints: what a chain is checked against besides itself.

A checkpoint signs (tenant, seq, hash, signed_at) of the chain's head at the time:

    message = "flowgrid-audit-checkpoint-v1" || tenant_id (16 bytes) || seq (8, big endian)
              || hash (32) || signed_at (microseconds since the Unix epoch, 8, big endian)
    signature = Ed25519(signing key of the workspace, message)

The hash chain already reveals an edited or deleted event in the middle; only an anchor kept
out of an attacker's reach reveals a deleted tail or a chain rewritten from some event onward.
"""

import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from store.audit.signing import SigningKeys
from store.models import AuditCheckpoint
from store.tenancy import TenantSession

CHECKPOINT_DOMAIN = b"flowgrid-audit-checkpoint-v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_checkpoints = AuditCheckpoint.__table__  # pyright: ignore[reportAttributeAccessIssue]


def micros(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class Checkpoint:
    tenant_id: uuid.UUID
    seq: int
    hash: bytes
    signed_at: datetime
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return checkpoint_message(self.tenant_id, self.seq, self.hash, self.signed_at)

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash.hex(),
            "signed_at": self.signed_at.isoformat(),
            "key_id": self.key_id,
            "signature": self.signature.hex(),
        }


def checkpoint_message(tenant_id: uuid.UUID, seq: int, digest: bytes, signed_at: datetime) -> bytes:
    return (
        CHECKPOINT_DOMAIN
        + tenant_id.bytes
        + struct.pack(">q", seq)
        + digest
        + struct.pack(">q", micros(signed_at))
    )


async def load_checkpoints(ts: TenantSession) -> list[Checkpoint]:
    """Every checkpoint of the workspace, oldest first (a few per day: small)."""
    rows = (
        await ts.db.execute(
            select(_checkpoints)
            .where(_checkpoints.c.tenant_id == ts.tenant_id)
            .order_by(_checkpoints.c.seq)
        )
    ).all()
    return [
        Checkpoint(
            tenant_id=r.tenant_id,
            seq=r.seq,
            hash=bytes(r.hash),
            signed_at=r.signed_at,
            key_id=r.key_id,
            signature=bytes(r.signature),
        )
        for r in rows
    ]


async def sort_by_signature(
    ts: TenantSession, keys: SigningKeys, checkpoints: list[Checkpoint]
) -> tuple[list[Checkpoint], list[Checkpoint]]:
    """(checkpoints whose signature holds, those whose signature does not), oldest first."""
    publics: dict[str, Ed25519PublicKey | None] = {}
    valid: list[Checkpoint] = []
    invalid: list[Checkpoint] = []
    for checkpoint in checkpoints:
        if checkpoint.key_id not in publics:
            publics[checkpoint.key_id] = await keys.public_key(ts, checkpoint.key_id)
        public = publics[checkpoint.key_id]
        try:
            if public is None:
                raise InvalidSignature
            public.verify(checkpoint.signature, checkpoint.message())
        except InvalidSignature:
            invalid.append(checkpoint)
        else:
            valid.append(checkpoint)
    return valid, invalid
