"""Turn stored audit events into readable ones: sealed values in before/after are decrypted.

The trail stores each row as the row was stored, so a sealed column is AES-GCM ciphertext,
rendered by jsonb as "\\x<hex>". It opens with the same key and the same place (tenant, table,
column, row id) as the live value did. A contact's values were sealed under the contact's own
subject key, and so were the notes and activities about the contact (the table declares it, and
the image's `record_type`/`record_id` name the contact); once the contact is erased that key is
gone and those values read "[erased]", in every event, forever. That is the point of erasure,
not a failure of the export.
"""

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from store.audit.chain import StoredEvent
from store.crypto.aead import KeyKind, Place, read_header, unseal
from store.crypto.keyring import SealingKey
from store.errors import DecryptionFailed
from store.models import metadata
from store.models.base import subject_of
from store.tenancy import TenantSession

ERASED = "[erased]"
UNREADABLE = "[undecryptable]"
REDACTED = "[redacted]"

# Sealed values that stay sealed even for an admin's export: credentials, not records.
REDACTED_COLUMNS = frozenset({("integrations", "secret"), ("slack_installs", "bot_token")})


def _sealed_columns(table_name: str) -> dict[str, bool]:
    """Sealed column -> whether it holds JSON, for a table of the schema."""
    table: sa.Table | None = metadata.tables.get(table_name)
    if table is None:
        return {}
    return {c.name: c.info.get("kind") == "json" for c in table.columns if c.info.get("sealed")}


def _ciphertext(value: Any) -> bytes | None:
    if isinstance(value, str) and value.startswith("\\x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            return None
    return None


class EventOpener:
    """Decrypts the events of one tenant session, a batch at a time."""

    def __init__(self, ts: TenantSession) -> None:
        self.ts = ts
        self.keyring = ts.sealer.keyring

    async def open(self, events: Sequence[StoredEvent]) -> list[dict[str, Any]]:
        images = [
            (json.loads(e.before) if e.before else None, json.loads(e.after) if e.after else None)
            for e in events
        ]
        subject_keys = await self.keyring.subject_keys(self.ts, self._subjects(events, images))
        opened = []
        for event, (before, after) in zip(events, images, strict=True):
            opened.append(
                {
                    "seq": event.seq,
                    "id": str(event.id),
                    "at": event.at.isoformat(),
                    "actor": event.actor,
                    "via": event.via,
                    "run_id": event.run_id,
                    "tool_call_id": event.tool_call_id,
                    "action": event.action,
                    "table_name": event.table_name,
                    "record_id": str(event.record_id) if event.record_id else None,
                    "before": await self._open_image(event, before, subject_keys),
                    "after": await self._open_image(event, after, subject_keys),
                    "prev_hash": event.prev_hash.hex(),
                    "hash": event.hash.hex(),
                }
            )
        return opened

    def _subjects(
        self, events: Sequence[StoredEvent], images: Sequence[tuple[Any, Any]]
    ) -> set[uuid.UUID]:
        """Data subjects whose keys sealed values in this batch."""
        subjects: set[uuid.UUID] = set()
        for event, pair in zip(events, images, strict=True):
            for image in pair:
                subject = _subject(event, image)
                if subject is None:
                    continue
                for column in _sealed_columns(event.table_name):
                    blob = _ciphertext((image or {}).get(column))
                    if blob is not None and _header_kind(blob) is KeyKind.SUBJECT_KEY:
                        subjects.add(subject)
        return subjects

    async def _open_image(
        self,
        event: StoredEvent,
        image: dict[str, Any] | None,
        subject_keys: Mapping[uuid.UUID, SealingKey],
    ) -> dict[str, Any] | None:
        if image is None:
            return None
        subject = _subject(event, image)
        for column, is_json in _sealed_columns(event.table_name).items():
            blob = _ciphertext(image.get(column))
            if blob is None:
                continue
            if (event.table_name, column) in REDACTED_COLUMNS:
                image[column] = REDACTED
                continue
            image[column] = await self._open_value(
                event, subject, column, blob, is_json, subject_keys
            )
        return image

    async def _open_value(
        self,
        event: StoredEvent,
        subject: uuid.UUID | None,
        column: str,
        blob: bytes,
        is_json: bool,
        subject_keys: Mapping[uuid.UUID, SealingKey],
    ) -> Any:
        if event.record_id is None:
            return UNREADABLE
        try:
            header = read_header(blob)
            if header.kind is KeyKind.SUBJECT_KEY:
                if subject is None:
                    return UNREADABLE
                if subject not in subject_keys:
                    return ERASED
                key = subject_keys[subject].key
            else:
                key = await self.keyring.data_key(self.ts, header.key_version)
            place = Place(self.ts.tenant_id, event.table_name, column, event.record_id)
            plaintext = unseal(key, blob, place=place).decode()
        except DecryptionFailed:
            return UNREADABLE
        return json.loads(plaintext) if is_json else plaintext


def _subject(event: StoredEvent, image: Mapping[str, Any] | None) -> uuid.UUID | None:
    """Whose subject key sealed this image's values, by the table's declaration and its links."""
    table = metadata.tables.get(event.table_name)
    if table is None or image is None or event.record_id is None:
        return None
    return subject_of(table, event.record_id, image)


def _header_kind(blob: bytes) -> KeyKind | None:
    try:
        return read_header(blob).kind
    except DecryptionFailed:
        return None
