"""Data keys and subject keys for one process, with a bounded, short-lived cache.

The KEK never leaves the key provider. A workspace's data keys (DEKs) are stored wrapped in
`data_keys`, one row per version; a contact's subject key is stored wrapped by a DEK in
`subject_keys`. Unwrapped DEKs are cached for at most `max_age` seconds (<= 300), so the provider
is called once per workspace per cache period, not per operation, and a retired key stops
working in every process within that window (sooner: `tenant_session` refuses retired
workspaces on every transaction).
"""

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, insert, select, update

from store.crypto.aead import Header, KeyKind, Place, new_key, seal, unseal
from store.crypto.providers import KeyProvider
from store.errors import DecryptionFailed
from store.models import DataKey, SubjectKey
from store.tenancy import TenantSession

MAX_CACHE_AGE_SECONDS = 300.0

_data_keys = DataKey.__table__  # pyright: ignore[reportAttributeAccessIssue]
_subject_keys = SubjectKey.__table__  # pyright: ignore[reportAttributeAccessIssue]


@dataclass(frozen=True)
class SealingKey:
    """A key ready to seal with, and the header that names it inside every ciphertext."""

    key: bytes
    header: Header


class _TimedCache:
    """Entries expire `max_age` seconds after they were loaded; the least recently used go first.

    A value derived from a cached key (a blind-index key) is stored with its root's load time, so
    nothing derived from a data key outlives that data key's own cache period.
    """

    def __init__(self, max_age: float, max_entries: int, clock: Callable[[], float]) -> None:
        self.max_age = max_age
        self.max_entries = max_entries
        self.clock = clock
        self._items: OrderedDict[tuple[object, ...], tuple[float, object]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def entry(self, key: tuple[object, ...]) -> tuple[float, object] | None:
        """(load time, value) of a live entry, or None."""
        item = self._items.get(key)
        if item is None:
            return None
        if self.clock() - item[0] > self.max_age:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item

    def get(self, key: tuple[object, ...]) -> object | None:
        item = self.entry(key)
        return None if item is None else item[1]

    def put(
        self, key: tuple[object, ...], value: object, *, loaded_at: float | None = None
    ) -> None:
        self._items[key] = (self.clock() if loaded_at is None else loaded_at, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def drop_tenant(self, tenant_id: uuid.UUID) -> None:
        for key in [k for k in self._items if k[0] == tenant_id]:
            del self._items[key]


class Keyring:
    """Finds, creates and caches the keys a tenant session seals and opens values with."""

    def __init__(
        self,
        provider: KeyProvider,
        *,
        max_age: float = MAX_CACHE_AGE_SECONDS,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < max_age <= MAX_CACHE_AGE_SECONDS:
            raise ValueError("the data key cache max age must be within (0, 300] seconds")
        if max_entries < 1:
            raise ValueError("the data key cache must hold at least one entry")
        self.provider = provider
        self._cache = _TimedCache(max_age, max_entries, clock)

    @property
    def max_age(self) -> float:
        return self._cache.max_age

    @property
    def cached_entries(self) -> int:
        """How many keys (and key versions) the cache holds now, live or not yet evicted."""
        return len(self._cache)

    def purge(self, tenant_id: uuid.UUID) -> None:
        """Forget every cached key of a workspace (on retirement)."""
        self._cache.drop_tenant(tenant_id)

    # --- data keys ----------------------------------------------------------------------

    async def add_data_key(self, ts: TenantSession) -> int:
        """Create the next DEK version (the first one on workspace creation); returns it."""
        current = (
            await ts.db.execute(
                select(_data_keys.c.key_version)
                .where(_data_keys.c.tenant_id == ts.tenant_id)
                .order_by(_data_keys.c.key_version.desc())
                .limit(1)
            )
        ).scalar()
        version = (current or 0) + 1
        plaintext, wrapped = await asyncio.to_thread(
            self.provider.generate_data_key, ts.tenant_id, ts.key_ref
        )
        await ts.db.execute(
            insert(_data_keys).values(
                tenant_id=ts.tenant_id,
                id=uuid.uuid4(),
                key_version=version,
                wrapped=wrapped,
                kek_ref=ts.key_ref,
            )
        )
        self._cache.put((ts.tenant_id, "dek", version), plaintext)
        self._cache.put((ts.tenant_id, "current"), version)
        return version

    async def current_data_key(self, ts: TenantSession) -> SealingKey:
        """The newest DEK version, which every new ciphertext is sealed under.

        Only the version number is cached here; the key itself comes through `data_key`, so a
        workspace costs one unwrap per cache period whether it reads, writes or both.
        """
        version = self._cache.get((ts.tenant_id, "current"))
        if version is None:
            version = (
                await ts.db.execute(
                    select(sa.func.max(_data_keys.c.key_version)).where(
                        _data_keys.c.tenant_id == ts.tenant_id
                    )
                )
            ).scalar()
            if version is None:
                raise DecryptionFailed("this workspace has no data key yet")
            self._cache.put((ts.tenant_id, "current"), version)
        assert isinstance(version, int)
        return SealingKey(await self.data_key(ts, version), Header(KeyKind.DATA_KEY, version))

    async def data_key(self, ts: TenantSession, version: int) -> bytes:
        return (await self._data_key_entry(ts, version))[1]

    async def _data_key_entry(self, ts: TenantSession, version: int) -> tuple[float, bytes]:
        """(load time, key) of a DEK version, unwrapping it through the provider on a miss."""
        cache_key = (ts.tenant_id, "dek", version)
        cached = self._cache.entry(cache_key)
        if cached is None:
            wrapped = (
                await ts.db.execute(
                    select(_data_keys.c.wrapped).where(
                        _data_keys.c.tenant_id == ts.tenant_id, _data_keys.c.key_version == version
                    )
                )
            ).scalar()
            if wrapped is None:
                raise DecryptionFailed(
                    f"data key version {version} does not exist in this workspace"
                )
            key = await asyncio.to_thread(self.provider.unwrap, ts.tenant_id, ts.key_ref, wrapped)
            cached = (self._cache.clock(), key)
            self._cache.put(cache_key, key, loaded_at=cached[0])
        return cached  # pyright: ignore[reportReturnType]

    async def index_key(self, ts: TenantSession, table: str, column: str) -> bytes:
        """Blind-index key per workspace, table and column, derived from the first DEK.

        Derived from version 1 so that rotation does not change the tokens; retiring the
        workspace KEK makes it underivable, which also unlinks the index.
        """
        cache_key = (ts.tenant_id, "index", table, column)
        cached = self._cache.get(cache_key)
        if cached is None:
            loaded_at, root = await self._data_key_entry(ts, 1)
            cached = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=None,
                info=f"flowgrid blind index|{table}|{column}".encode(),
            ).derive(root)
            # Expires with the DEK it came from, not a full cache period after derivation.
            self._cache.put(cache_key, cached, loaded_at=loaded_at)
        return cached  # pyright: ignore[reportReturnType]

    # --- subject keys -------------------------------------------------------------------

    def wrap_subject_key(
        self, ts: TenantSession, subject_id: uuid.UUID, dek: SealingKey, key: bytes | None = None
    ) -> tuple[SealingKey, dict[str, Any]]:
        """A subject key (fresh unless `key` is given) wrapped by `dek`, and its `subject_keys` row.

        Bulk loaders insert the rows themselves; `create_subject_key` inserts one.
        """
        key = new_key() if key is None else key
        version = dek.header.key_version
        wrapped = seal(dek.key, key, header=dek.header, place=_subject_place(ts, subject_id))
        row = {
            "tenant_id": ts.tenant_id,
            "id": subject_id,
            "key_version": version,
            "wrapped": wrapped,
        }
        return SealingKey(key, Header(KeyKind.SUBJECT_KEY, version)), row

    async def create_subject_key(self, ts: TenantSession, subject_id: uuid.UUID) -> SealingKey:
        sealing, row = self.wrap_subject_key(ts, subject_id, await self.current_data_key(ts))
        await ts.db.execute(insert(_subject_keys).values(**row))
        return sealing

    async def current_subject_key(
        self, ts: TenantSession, subject_id: uuid.UUID, key: SealingKey
    ) -> SealingKey:
        """`key`, re-wrapped under the current DEK first if an older DEK version wraps it.

        Called before a subject's fields are re-sealed, so writes after a rotation carry the new
        version and that subject no longer depends on the old DEK version.
        """
        dek = await self.current_data_key(ts)
        if key.header.key_version >= dek.header.key_version:
            return key
        sealing, row = self.wrap_subject_key(ts, subject_id, dek, key.key)
        await ts.db.execute(
            update(_subject_keys)
            .where(_subject_keys.c.tenant_id == ts.tenant_id, _subject_keys.c.id == subject_id)
            .values(key_version=row["key_version"], wrapped=row["wrapped"])
        )
        return sealing

    async def subject_keys(
        self, ts: TenantSession, subject_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, SealingKey]:
        """The keys of the given subjects; an erased subject is simply absent."""
        ids = list(set(subject_ids))
        if not ids:
            return {}
        rows = (
            await ts.db.execute(
                select(
                    _subject_keys.c.id, _subject_keys.c.key_version, _subject_keys.c.wrapped
                ).where(_subject_keys.c.tenant_id == ts.tenant_id, _subject_keys.c.id.in_(ids))
            )
        ).all()
        keys: dict[uuid.UUID, SealingKey] = {}
        for row in rows:
            dek = await self.data_key(ts, row.key_version)
            key = unseal(dek, row.wrapped, place=_subject_place(ts, row.id))
            keys[row.id] = SealingKey(key, Header(KeyKind.SUBJECT_KEY, row.key_version))
        return keys

    async def merge_subject_keys(
        self, ts: TenantSession, duplicate_id: uuid.UUID, survivor_id: uuid.UUID
    ) -> None:
        """Tie the duplicate's key (and the keys already merged into it) to the survivor."""
        await ts.db.execute(
            update(_subject_keys)
            .where(
                _subject_keys.c.tenant_id == ts.tenant_id,
                (_subject_keys.c.id == duplicate_id)
                | (_subject_keys.c.merged_into == duplicate_id),
            )
            .values(merged_into=survivor_id)
        )

    async def existing_subjects(
        self, ts: TenantSession, subject_ids: Iterable[uuid.UUID]
    ) -> set[uuid.UUID]:
        """Which of the subjects still have a key (the others were erased); nothing unwrapped."""
        ids = list(set(subject_ids))
        if not ids:
            return set()
        found = await ts.db.execute(
            select(_subject_keys.c.id).where(
                _subject_keys.c.tenant_id == ts.tenant_id, _subject_keys.c.id.in_(ids)
            )
        )
        return set(found.scalars())

    async def merged_into(self, ts: TenantSession, subject_id: uuid.UUID) -> list[uuid.UUID]:
        """The subjects (contacts) merged into this one."""
        found = await ts.db.execute(
            select(_subject_keys.c.id).where(
                _subject_keys.c.tenant_id == ts.tenant_id,
                _subject_keys.c.merged_into == subject_id,
            )
        )
        return list(found.scalars())

    async def shred_subject_key(self, ts: TenantSession, subject_id: uuid.UUID) -> bool:
        """Delete the subject's key and the keys of contacts merged into it; True if it had one."""
        result = await ts.db.execute(
            delete(_subject_keys)
            .where(
                _subject_keys.c.tenant_id == ts.tenant_id,
                (_subject_keys.c.id == subject_id) | (_subject_keys.c.merged_into == subject_id),
            )
            .returning(_subject_keys.c.id)
        )
        return subject_id in set(result.scalars())


def _subject_place(ts: TenantSession, subject_id: uuid.UUID) -> Place:
    return Place(ts.tenant_id, "subject_keys", "wrapped", subject_id)
