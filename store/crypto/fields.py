"""Seal and open an entity's fields, and compute the blind-index tokens of a record.

Why a codec in the services and not a SQLAlchemy column type: the associated data binds each
ciphertext to its row id and column, which a type's bind hook never sees; the key may need an
awaited call to the key provider, which a synchronous type hook cannot make; and a contact's
fields are sealed under that contact's own subject key (and a note or activity about a contact
under that contact's key), which is a per-row decision. Keeping it explicit also makes the
raw-scan tests meaningful: nothing is encrypted by accident or not at all.
"""

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from store.crypto import blind_index
from store.crypto.aead import KeyKind, Place, read_header, seal, unseal
from store.crypto.keyring import Keyring, SealingKey
from store.entities import Entity
from store.errors import DecryptionFailed
from store.models.base import KeyedBy, keyed_by, subject_of
from store.tenancy import TenantSession


def _erased(entity: Entity, row_id: uuid.UUID, subject: uuid.UUID) -> str:
    if subject == row_id:
        return f"the {entity.title} {row_id} was erased; its key is gone"
    return f"the contact this {entity.title} is about ({subject}) was erased; its key is gone"


class RecordSealer:
    """Turns plaintext field values into ciphertext for one entity, and back."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def key_for_new(
        self,
        ts: TenantSession,
        entity: Entity,
        row_id: uuid.UUID,
        values: Mapping[str, Any],
    ) -> SealingKey:
        """The key to seal a new row with; `values` are its plaintext (its link decides)."""
        if keyed_by(entity.table) is KeyedBy.SELF:
            return await self.keyring.create_subject_key(ts, row_id)
        return await self.key_for_existing(ts, entity, row_id, values)

    async def key_for_existing(
        self,
        ts: TenantSession,
        entity: Entity,
        row_id: uuid.UUID,
        row: Mapping[str, Any],
    ) -> SealingKey:
        """The key to (re)seal values of a stored row with; `row` is the row as it will be."""
        subject = subject_of(entity.table, row_id, row)
        if subject is None:
            return await self.keyring.current_data_key(ts)
        keys = await self.keyring.subject_keys(ts, [subject])
        if subject not in keys:
            raise DecryptionFailed(_erased(entity, row_id, subject))
        # After a rotation, the subject key is re-wrapped so the new values carry the new version.
        return await self.keyring.current_subject_key(ts, subject, keys[subject])

    def seal_values(
        self,
        ts: TenantSession,
        entity: Entity,
        row_id: uuid.UUID,
        key: SealingKey,
        values: Mapping[str, Any],
    ) -> dict[str, bytes | None]:
        sealed: dict[str, bytes | None] = {}
        for spec in entity.sealed_fields:
            if spec.name not in values:
                continue
            value = values[spec.name]
            if value is None:
                sealed[spec.name] = None
                continue
            raw = json.dumps(value, sort_keys=True, default=str) if spec.json else str(value)
            place = Place(ts.tenant_id, entity.table_name, spec.name, row_id)
            sealed[spec.name] = seal(key.key, raw.encode(), header=key.header, place=place)
        return sealed

    async def open_rows(
        self, ts: TenantSession, entity: Entity, rows: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Decrypt the sealed fields of rows read from the entity's table."""
        subjects = {subject_of(entity.table, row["id"], row) for row in rows}
        subject_keys = await self.keyring.subject_keys(ts, (s for s in subjects if s is not None))
        opened: list[dict[str, Any]] = []
        for row in rows:
            values = dict(row)
            for spec in entity.sealed_fields:
                blob = values.get(spec.name)
                if blob is None:
                    continue
                key = await self._opening_key(ts, entity, row, bytes(blob), subject_keys)
                place = Place(ts.tenant_id, entity.table_name, spec.name, row["id"])
                text = unseal(key, bytes(blob), place=place).decode()
                values[spec.name] = json.loads(text) if spec.json else text
            opened.append(values)
        return opened

    async def _opening_key(
        self,
        ts: TenantSession,
        entity: Entity,
        row: Mapping[str, Any],
        blob: bytes,
        subject_keys: Mapping[uuid.UUID, SealingKey],
    ) -> bytes:
        header = read_header(blob)
        subject = subject_of(entity.table, row["id"], row)
        if header.kind is KeyKind.SUBJECT_KEY and subject is not None:
            if subject not in subject_keys:
                raise DecryptionFailed(_erased(entity, row["id"], subject))
            return subject_keys[subject].key
        # A row keyed by its link may hold values sealed under the DEK (written before its table
        # was keyed by the link); a row keyed by itself never does.
        if header.kind is KeyKind.SUBJECT_KEY or keyed_by(entity.table) is KeyedBy.SELF:
            # A value sealed for another kind of record was moved here: name that, not "erased".
            raise DecryptionFailed(
                f"a sealed value of {entity.table_name} row {row['id']} was sealed for another "
                "kind of record; it was moved or altered"
            )
        return await self.keyring.data_key(ts, header.key_version)

    async def index_rows(
        self, ts: TenantSession, entity: Entity, row_id: uuid.UUID, values: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Blind-index rows for the searchable fields present in `values`."""
        rows: list[dict[str, Any]] = []
        for spec in entity.searchable_fields:
            value = values.get(spec.name)
            if value is None or spec.search is None:
                continue
            key = await self.keyring.index_key(ts, entity.table_name, spec.name)
            tokens = {
                blind_index.token(key, t) for t in blind_index.terms_for_value(value, spec.search)
            }
            rows.extend(
                {
                    "tenant_id": ts.tenant_id,
                    "id": uuid.uuid4(),
                    "table_name": entity.table_name,
                    "column_name": spec.name,
                    "record_id": row_id,
                    "token": tok,
                }
                for tok in sorted(tokens)
            )
        return rows

    async def query_tokens(
        self, ts: TenantSession, entity: Entity, column: str, query: str
    ) -> list[bytes]:
        """One token per query term for a column (all must match for a record to qualify)."""
        spec = entity.field_map[column]
        assert spec.search is not None
        key = await self.keyring.index_key(ts, entity.table_name, column)
        return [blind_index.token(key, t) for t in blind_index.terms_for_query(query, spec.search)]
