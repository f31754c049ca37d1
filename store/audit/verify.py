"""`flowgrid audit verify`: recompute a workspace's chain and name the first bad sequence number.

The checks, in seq order from 1 (or from the newest signed checkpoint, incrementally):

- no gap: the seqs are 1, 2, 3, ... (a deleted event in the middle shows as a missing seq);
- each event's prev_hash is the previous event's hash (nothing was reordered or spliced);
- each event's hash is SHA-256 over prev_hash and its stored contents (nothing was edited);
- anchors: every checkpoint's Ed25519 signature holds, and the chain still holds that
  checkpoint's (seq, hash); so does `audit_heads`. A deleted tail, or a chain rewritten and
  re-hashed from some event onward, disagrees with an anchor.

Verification reads through the app role under row-level security, one batch at a time.
"""

import uuid
from collections.abc import Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from store.audit.anchors import load_checkpoints, sort_by_signature
from store.audit.chain import GENESIS, StoredEvent, event_hash
from store.audit.reader import chain_head, event_batches
from store.audit.signing import SigningKeys, signing_keys_for
from store.tenancy import TenantSession, Via

if TYPE_CHECKING:
    from store.runtime import Store

AUDIT_ACTOR = "system:audit"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    first_bad_seq: int | None
    reason: str | None
    # The last event verified, (seq, hash): what a checkpoint may sign.
    head: tuple[int, bytes] | None = field(default=None, compare=False, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Anchor:
    """A (seq, hash) the chain must still contain; `what` names it in the reason."""

    seq: int
    hash: bytes
    what: str


class ChainChecker:
    """Takes events in seq order and keeps the earliest problem. Pure: no database here."""

    def __init__(
        self,
        anchors: Iterable[Anchor] = (),
        *,
        start_seq: int = 0,
        start_hash: bytes | None = GENESIS,
        problems: Iterable[tuple[int, str]] = (),
    ) -> None:
        # start_hash None: trust the first event's prev_hash, because an anchor pins that event.
        self.anchors: dict[int, list[Anchor]] = {}
        for anchor in anchors:
            self.anchors.setdefault(anchor.seq, []).append(anchor)
        self.last_seq = start_seq
        self.last_hash = start_hash
        self.events = 0
        self.problem: tuple[int, str] | None = min(problems, default=None)

    @property
    def horizon(self) -> int:
        """The highest seq an anchor vouches for: the chain must reach at least this far."""
        return max(self.anchors, default=0)

    @property
    def done(self) -> bool:
        """Nothing later in the chain can produce an earlier problem than the one we have."""
        return self.problem is not None and self.problem[0] <= self.last_seq + 1

    def feed(self, event: StoredEvent) -> None:
        expected = self.last_seq + 1
        if event.seq != expected:
            self._report(expected, f"event {expected} is missing (the next one is {event.seq})")
            return
        self.events += 1
        if self.last_hash is not None and event.prev_hash != self.last_hash:
            self._report(event.seq, f"its prev_hash is not the hash of event {event.seq - 1}")
        elif event_hash(event.prev_hash, event) != event.hash:
            self._report(event.seq, "its hash does not match its contents: it was altered")
        else:
            for anchor in self.anchors.get(event.seq, ()):
                if anchor.hash != event.hash:
                    self._report(event.seq, f"it differs from the {anchor.what} at this seq")
        self.last_seq, self.last_hash = event.seq, event.hash

    def finish(self) -> VerifyResult:
        for seq, anchors in self.anchors.items():
            if seq > self.last_seq:
                missing = self.last_seq + 1
                self._report(
                    missing,
                    f"events {missing} to {seq} are missing: the {anchors[0].what} reaches {seq}",
                )
        if self.problem is not None:
            seq, reason = self.problem
            return VerifyResult(False, self.events, seq, f"event {seq}: {reason}")
        head = (self.last_seq, self.last_hash) if self.last_hash is not None else None
        return VerifyResult(True, self.events, None, None, head=head)

    def _report(self, seq: int, reason: str) -> None:
        if self.problem is None or seq < self.problem[0]:
            self.problem = (seq, reason)


async def load_checker(
    ts: TenantSession, keys: SigningKeys, *, incremental: bool = False
) -> ChainChecker:
    """A checker holding the workspace's anchors: every checkpoint whose signature holds, and
    the head in `audit_heads`. A checkpoint whose signature does not hold is itself a problem.
    `incremental` starts at the newest valid checkpoint instead of at event 1."""
    valid, invalid = await sort_by_signature(ts, keys, await load_checkpoints(ts))
    anchors = [Anchor(c.seq, c.hash, "signed checkpoint") for c in valid]
    head = await chain_head(ts)
    if head is not None:
        anchors.append(Anchor(head[0], head[1], "chain head (audit_heads)"))
    problems = [(c.seq, "its checkpoint does not carry a valid signature") for c in invalid]
    start_seq, start_hash = 0, GENESIS
    if incremental and valid:
        start_seq, start_hash = valid[-1].seq - 1, None
    return ChainChecker(anchors, start_seq=start_seq, start_hash=start_hash, problems=problems)


async def verify_session(
    ts: TenantSession, *, incremental: bool = False, keys: SigningKeys | None = None
) -> VerifyResult:
    """Verify the workspace's chain; `incremental` starts at the newest valid checkpoint."""
    keys = keys or signing_keys_for(ts.sealer.keyring.provider)
    checker = await load_checker(ts, keys, incremental=incremental)
    async with aclosing(event_batches(ts, after_seq=checker.last_seq)) as batches:
        async for batch in batches:
            for event in batch:
                checker.feed(event)
                if checker.done:
                    break
            if checker.done:
                break
    return checker.finish()


async def verify_chain(
    store: "Store", tenant_id: uuid.UUID, *, actor: str = AUDIT_ACTOR, via: Via = "cli"
) -> VerifyResult:
    """Verify the whole chain of one workspace, reading as the app role."""
    async with store.tenant_session(tenant_id, actor, via=via) as ts:
        return await verify_session(ts)
