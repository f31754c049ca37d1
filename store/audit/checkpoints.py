"""Write signed checkpoints of a workspace's chain head.

A checkpoint is signed only after the events since the previous valid checkpoint verify, so a
checkpoint never blesses a chain that was already tampered with. Every export writes one;
`write_checkpoint` is also what a scheduler calls (say hourly) so a deleted tail is caught even
between exports. Writing twice at the same head keeps the first checkpoint.
"""

import uuid
from typing import TYPE_CHECKING

from sqlalchemy.dialects.postgresql import insert

from store.audit.anchors import Checkpoint, checkpoint_message, load_checkpoints
from store.audit.signing import SigningKeys, signing_keys_for
from store.audit.verify import AUDIT_ACTOR, VerifyResult, verify_session
from store.errors import DomainError
from store.models import AuditCheckpoint
from store.models.base import utcnow
from store.tenancy import TenantSession

if TYPE_CHECKING:
    from store.runtime import Store

_checkpoints = AuditCheckpoint.__table__  # pyright: ignore[reportAttributeAccessIssue]


class ChainBroken(DomainError):
    """The chain does not verify, so no checkpoint may vouch for it."""

    code = "audit_chain_broken"

    def __init__(self, result: VerifyResult) -> None:
        super().__init__(f"the audit chain does not verify: {result.reason}")
        self.result = result


async def checkpoint_session(
    ts: TenantSession, *, keys: SigningKeys | None = None
) -> Checkpoint | None:
    """Verify since the last checkpoint, then sign the head. None when the chain is empty."""
    keys = keys or signing_keys_for(ts.sealer.keyring.provider)
    result = await verify_session(ts, incremental=True, keys=keys)
    if not result.ok:
        raise ChainBroken(result)
    if result.head is None:
        return None
    return await sign_head(ts, keys, *result.head)


async def sign_head(ts: TenantSession, keys: SigningKeys, seq: int, digest: bytes) -> Checkpoint:
    """Sign (seq, hash), which the caller has just verified, and store the checkpoint."""
    key_id, key = await keys.signing_key(ts)
    signed_at = utcnow()
    signature = key.sign(checkpoint_message(ts.tenant_id, seq, digest, signed_at))
    await ts.db.execute(
        insert(_checkpoints)
        .values(
            tenant_id=ts.tenant_id,
            seq=seq,
            hash=digest,
            signed_at=signed_at,
            key_id=key_id,
            signature=signature,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "seq"])
    )
    # At the same head, the checkpoint written first stands.
    return next(c for c in await load_checkpoints(ts) if c.seq == seq)


async def write_checkpoint(
    store: "Store", tenant_id: uuid.UUID, *, actor: str = AUDIT_ACTOR
) -> Checkpoint | None:
    """Sign the current head of a workspace's chain, in its own transaction."""
    async with store.tenant_session(tenant_id, actor, via="system") as ts:
        return await checkpoint_session(ts, keys=signing_keys_for(store.provider))
