"""AES-256-GCM with a versioned header and associated data that pins a ciphertext to its place.

Layout: `format (1) | key kind (1) | key version (4, big endian) | nonce (12) | ciphertext+tag`.
The associated data is the header plus `tenant | table | column | row id`, so a ciphertext copied
to another row, column or workspace, or relabelled with another key version, fails to open.
"""

import os
import struct
import uuid
from dataclasses import dataclass
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from store.errors import DecryptionFailed

FORMAT_V1 = 1
_HEADER = struct.Struct(">BBI")
_NONCE_BYTES = 12
KEY_BYTES = 32


class KeyKind(IntEnum):
    DATA_KEY = 0  # the workspace data key (DEK), by version
    SUBJECT_KEY = 1  # one contact's own key; the version is the DEK version that wraps it


@dataclass(frozen=True)
class Place:
    """Where a sealed value lives; it becomes the associated data."""

    tenant_id: uuid.UUID
    table: str
    column: str
    row_id: uuid.UUID

    def encode(self) -> bytes:
        parts = (str(self.tenant_id), self.table, self.column, str(self.row_id))
        # Length-prefixed, so no choice of names can make two places encode alike.
        return b"".join(struct.pack(">H", len(p)) + p.encode() for p in parts)


@dataclass(frozen=True)
class Header:
    kind: KeyKind
    key_version: int

    def encode(self) -> bytes:
        return _HEADER.pack(FORMAT_V1, self.kind, self.key_version)


def read_header(blob: bytes) -> Header:
    if len(blob) < _HEADER.size + _NONCE_BYTES + 16:
        raise DecryptionFailed("not a FlowGrid ciphertext (too short)")
    fmt, kind, version = _HEADER.unpack_from(blob)
    if fmt != FORMAT_V1 or kind not in KeyKind._value2member_map_:
        raise DecryptionFailed("not a FlowGrid ciphertext (unknown format)")
    return Header(KeyKind(kind), version)


def seal(key: bytes, plaintext: bytes, *, header: Header, place: Place) -> bytes:
    head = header.encode()
    nonce = os.urandom(_NONCE_BYTES)
    return head + nonce + AESGCM(key).encrypt(nonce, plaintext, head + place.encode())


def unseal(key: bytes, blob: bytes, *, place: Place) -> bytes:
    header = read_header(blob)
    head = header.encode()
    nonce = blob[len(head) : len(head) + _NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[len(head) + _NONCE_BYTES :], head + place.encode())
    except InvalidTag:
        raise DecryptionFailed(
            f"a sealed value of {place.table}.{place.column} did not authenticate: it was "
            "altered, moved from another row, column or workspace, or its key was destroyed"
        ) from None


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)
