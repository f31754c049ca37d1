"""The digest of an audit event, recomputed in Python exactly as `audit_event_digest()` does.

    hash = SHA-256( prev_hash || "flowgrid-audit-v1" || field(tenant_id) || field(seq) || field(id)
                    || field(at) || field(actor) || field(via) || field(run_id)
                    || field(tool_call_id) || field(action) || field(table_name)
                    || field(record_id) || field(before) || field(after) )

    field(NULL) = FF FF FF FF
    field(x)    = length(x) as 4-byte big-endian || x
    uuid -> its 16 bytes; seq -> 8-byte big-endian signed; at -> microseconds since the Unix
    epoch, 8-byte big-endian signed; text -> UTF-8; before/after -> UTF-8 of PostgreSQL's
    `jsonb::text` rendering (read back as text, never re-serialised here).

The first event of a workspace has prev_hash = 32 zero bytes. This module is deliberately
independent of the database code that writes the chain: it is the second implementation a
verifier needs, and the layout above is the contract both keep.
"""

import hashlib
import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

DOMAIN = b"flowgrid-audit-v1"
GENESIS = bytes(32)
_NULL = b"\xff\xff\xff\xff"
_LENGTH = struct.Struct(">I")
_INT8 = struct.Struct(">q")


@dataclass(frozen=True)
class StoredEvent:
    """An audit event as read back from `audit_events` (before/after as jsonb text)."""

    tenant_id: uuid.UUID
    seq: int
    id: uuid.UUID
    at: datetime
    at_us: int
    actor: str
    via: str | None
    run_id: str | None
    tool_call_id: str | None
    action: str
    table_name: str
    record_id: uuid.UUID | None
    before: str | None
    after: str | None
    prev_hash: bytes
    hash: bytes


def field(value: bytes | None) -> bytes:
    if value is None:
        return _NULL
    return _LENGTH.pack(len(value)) + value


def _text(value: str | None) -> bytes | None:
    return None if value is None else value.encode()


def _uuid(value: uuid.UUID | None) -> bytes | None:
    return None if value is None else value.bytes


def event_bytes(event: StoredEvent) -> bytes:
    """The canonical bytes of an event (everything the hash covers except prev_hash)."""
    parts: Iterable[bytes | None] = (
        _uuid(event.tenant_id),
        _INT8.pack(event.seq),
        _uuid(event.id),
        _INT8.pack(event.at_us),
        _text(event.actor),
        _text(event.via),
        _text(event.run_id),
        _text(event.tool_call_id),
        _text(event.action),
        _text(event.table_name),
        _uuid(event.record_id),
        _text(event.before),
        _text(event.after),
    )
    return DOMAIN + b"".join(field(p) for p in parts)


def event_hash(prev_hash: bytes, event: StoredEvent) -> bytes:
    return hashlib.sha256(prev_hash + event_bytes(event)).digest()
