"""The data key cache: at most 300 s old, bounded in size, and the provider is called on a miss only.

A fake clock is injected through `Keyring(clock=...)`; the provider is a real local provider
whose call counter shows every unwrap.
"""

import uuid
from pathlib import Path

import pytest

import tests.conftest as base
from store.crypto.keyring import MAX_CACHE_AGE_SECONDS, Keyring
from store.crypto.providers import LocalKeyProvider
from store.entities import BY_NAME
from store.runtime import Store
from store.services import records
from tests.store.crypto.conftest import ACTOR, new_workspace


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_the_max_age_cannot_exceed_300_seconds(tmp_path: Path) -> None:
    provider = LocalKeyProvider(tmp_path / "keys")
    assert MAX_CACHE_AGE_SECONDS == 300
    assert Keyring(provider).max_age == 300
    assert Keyring(provider, max_age=300).max_age == 300
    for too_long_or_none in (300.001, 301, 3600, 0, -1):
        with pytest.raises(ValueError, match="300"):
            Keyring(provider, max_age=too_long_or_none)
    with pytest.raises(ValueError):
        Keyring(provider, max_entries=0)


def test_a_store_only_takes_a_keyring_on_its_own_provider(
    test_db: base.TestDatabase, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="provider"):
        Store(
            test_db.urls,
            LocalKeyProvider(tmp_path / "a"),
            keyring=Keyring(LocalKeyProvider(tmp_path / "b")),
        )


async def _contact(store: Store, tenant: uuid.UUID) -> uuid.UUID:
    async with store.tenant_session(tenant, ACTOR) as ts:
        made = await records.create_record(
            ts, BY_NAME["contact"], {"first_name": "Cached", "email": "c@cache.example"}
        )
    return made.id  # type: ignore[attr-defined]


async def _read(store: Store, tenant: uuid.UUID, contact: uuid.UUID) -> None:
    async with store.tenant_session(tenant, ACTOR) as ts:
        await records.get_record(ts, BY_NAME["contact"], contact)


async def _search(store: Store, tenant: uuid.UUID) -> None:
    async with store.tenant_session(tenant, ACTOR) as ts:
        page = await records.list_records(ts, BY_NAME["contact"], q="cach")
    assert page.items, "the search found the cached contact"


async def test_the_provider_is_asked_again_only_after_the_max_age(
    test_db: base.TestDatabase, keystore: Path
) -> None:
    clock = FakeClock()
    provider = LocalKeyProvider(keystore)
    store = Store(test_db.urls, provider, pool_size=2, keyring=Keyring(provider, clock=clock))
    try:
        tenant = await new_workspace(store, "Clocked")  # the new data key is cached at t = 0
        contact = await _contact(store, tenant)
        assert provider.calls["Decrypt"] == 0

        for t in (1, 150, 299.9, 300):
            clock.now = 1_000 + t
            await _read(store, tenant, contact)
            await _search(store, tenant)
        assert provider.calls["Decrypt"] == 0, "served from the cache within the max age"

        clock.now = 1_000 + 300.5
        await _read(store, tenant, contact)
        assert provider.calls["Decrypt"] == 1, "expired: unwrapped once more"
        for t in (301, 450, 600):
            clock.now = 1_000 + t
            await _read(store, tenant, contact)
            await _search(store, tenant)
            await _contact(store, tenant)
        assert provider.calls["Decrypt"] == 1

        # The blind-index key is derived from the data key and expires with it, although it was
        # derived later (t = 301) than the data key was loaded (t = 300.5): a search that matches
        # nothing needs only the index key, and still has to unwrap again at t = 600.7.
        clock.now = 1_000 + 600.7
        async with store.tenant_session(tenant, ACTOR) as ts:
            assert (await records.list_records(ts, BY_NAME["contact"], q="nobody")).items == []
        assert provider.calls["Decrypt"] == 2
    finally:
        await store.close()


async def test_the_cache_is_bounded_and_evicts_the_least_recently_used(
    store: Store, test_db: base.TestDatabase, keystore: Path
) -> None:
    tenants = [await new_workspace(store, f"Evict {i}") for i in range(3)]
    contacts = [await _contact(store, t) for t in tenants]
    provider = LocalKeyProvider(keystore)
    small = Store(test_db.urls, provider, pool_size=2, keyring=Keyring(provider, max_entries=2))
    try:
        for tenant, contact in zip(tenants, contacts, strict=True):
            await _read(small, tenant, contact)  # one cached data key per workspace
        assert provider.calls["Decrypt"] == 3
        await _read(small, tenants[2], contacts[2])  # still cached
        assert provider.calls["Decrypt"] == 3
        await _read(small, tenants[0], contacts[0])  # evicted by the third workspace
        assert provider.calls["Decrypt"] == 4
        assert small.keyring.cached_entries <= 2
    finally:
        await small.close()
