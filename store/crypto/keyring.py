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

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, insert, select

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
    def __init__(self, max_age: float, max_entries: int, clock: Callable[[], float]) -> None:
        self.max_age = max_age
        self.max_entries = max_entries
        self._clock = clock
        self._items: OrderedDict[tuple[object, ...], tuple[float, object]] = OrderedDict()

    def get(self, key: tuple[object, ...]) -> object | None:
        item = self._items.get(key)
        if item is None:
            return None
        loaded_at, value = item
        if self._clock() - loaded_at > self.max_age:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def put(self, key: tuple[object, ...], value: object) -> None:
        self._items[key] = (self._clock(), value)
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
        self.provider = provider
        self._cache = _TimedCache(max_age, max_entries, clock)

    @property
    def max_age(self) -> float:
        return self._cache.max_age

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
                tenant_id=ts.tenant_id, id=uuid.uuid4(), key_version=version, wrapped=wrapped,
                kek_ref=ts.key_ref,
            )
        )
        self._cache.put((ts.tenant_id, "dek", version), plaintext)
        self._cache.put((ts.tenant_id, "current"), (version, plaintext))
        return version

    async def current_data_key(self, ts: TenantSession) -> SealingKey:
        cached = self._cache.get((ts.tenant_id, "current"))
        if cached is None:
            row = (
                await ts.db.execute(
                    select(_data_keys.c.key_version, _data_keys.c.wrapped)
                    .where(_data_keys.c.tenant_id == ts.tenant_id)
                    .order_by(_data_keys.c.key_version.desc())
                    .limit(1)
                )
            ).one_or_none()
            if row is None:
                raise DecryptionFailed("this workspace has no data key yet")
            cached = (row.key_version, await self._unwrap(ts, row.key_version, row.wrapped))
            self._cache.put((ts.tenant_id, "current"), cached)
        version, key = cached  # pyright: ignore[reportGeneralTypeIssues]
        return SealingKey(key, Header(KeyKind.DATA_KEY, version))

    async def data_key(self, ts: TenantSession, version: int) -> bytes:
        cached = self._cache.get((ts.tenant_id, "dek", version))
        if cached is not None:
            return cached  # pyright: ignore[reportReturnType]
        wrapped = (
            await ts.db.execute(
                select(_data_keys.c.wrapped).where(
                    _data_keys.c.tenant_id == ts.tenant_id, _data_keys.c.key_version == version
                )
            )
        ).scalar()
        if wrapped is None:
            raise DecryptionFailed(f"data key version {version} does not exist in this workspace")
        return await self._unwrap(ts, version, wrapped)

    async def _unwrap(self, ts: TenantSession, version: int, wrapped: bytes) -> bytes:
        key = await asyncio.to_thread(self.provider.unwrap, ts.tenant_id, ts.key_ref, wrapped)
        self._cache.put((ts.tenant_id, "dek", version), key)
        return key

    async def index_key(self, ts: TenantSession, table: str, column: str) -> bytes:
        """Blind-index key per workspace, table and column, derived from the first DEK.

        Derived from version 1 so that rotation does not change the tokens; retiring the
        workspace KEK makes it underivable, which also unlinks the index.
        """
        cache_key = (ts.tenant_id, "index", table, column)
        cached = self._cache.get(cache_key)
        if cached is None:
            root = await self.data_key(ts, 1)
            cached = HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"flowgrid blind index|{table}|{column}".encode(),
            ).derive(root)
            self._cache.put(cache_key, cached)
        return cached  # pyright: ignore[reportReturnType]

    # --- subject keys -------------------------------------------------------------------

    async def create_subject_key(self, ts: TenantSession, subject_id: uuid.UUID) -> SealingKey:
        dek = await self.current_data_key(ts)
        key = new_key()
        wrapped = seal(dek.key, key, header=dek.header, place=_subject_place(ts, subject_id))
        await ts.db.execute(
            insert(_subject_keys).values(
                tenant_id=ts.tenant_id, id=subject_id, key_version=dek.header.key_version,
                wrapped=wrapped,
            )
        )
        return SealingKey(key, Header(KeyKind.SUBJECT_KEY, dek.header.key_version))

    async def subject_keys(
        self, ts: TenantSession, subject_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, SealingKey]:
        """The keys of the given subjects; an erased subject is simply absent."""
        ids = list(set(subject_ids))
        if not ids:
            return {}
        rows = (
            await ts.db.execute(
                select(_subject_keys.c.id, _subject_keys.c.key_version, _subject_keys.c.wrapped)
                .where(_subject_keys.c.tenant_id == ts.tenant_id, _subject_keys.c.id.in_(ids))
            )
        ).all()
        keys: dict[uuid.UUID, SealingKey] = {}
        for row in rows:
            dek = await self.data_key(ts, row.key_version)
            key = unseal(dek, row.wrapped, place=_subject_place(ts, row.id))
            keys[row.id] = SealingKey(key, Header(KeyKind.SUBJECT_KEY, row.key_version))
        return keys

    async def shred_subject_key(self, ts: TenantSession, subject_id: uuid.UUID) -> bool:
        result = await ts.db.execute(
            delete(_subject_keys).where(
                _subject_keys.c.tenant_id == ts.tenant_id, _subject_keys.c.id == subject_id
            )
        )
        return bool(result.rowcount)  # pyright: ignore[reportAttributeAccessIssue]


def _subject_place(ts: TenantSession, subject_id: uuid.UUID) -> Place:
    return Place(ts.tenant_id, "subject_keys", "wrapped", subject_id)
