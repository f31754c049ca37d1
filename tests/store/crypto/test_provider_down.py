"""When the key provider cannot be reached: a clear, retryable error, and nothing half-written."""

import time
from collections.abc import AsyncIterator

import pytest

import tests.conftest as base
from store.crypto.providers import AwsKmsProvider
from store.entities import BY_NAME
from store.errors import KeyUnavailable
from store.runtime import Store
from store.services import records, tenants
from tests.store.crypto.conftest import (
    ACTOR,
    MotoKms,
    count_rows,
    new_workspace,
    superuser_rows,
    superuser_scan,
)

UNSAVED = {
    "first_name": "Unsavedina",
    "last_name": "Neverwritten",
    "email": "unsavedina.neverwritten@nowhere.example",
    "phone": "+1 555 8080 404",
}


@pytest.fixture
async def lonely_kms(aws_env: None) -> AsyncIterator[MotoKms]:
    """A KMS endpoint of this test's own, so stopping it disturbs no other test."""
    server = MotoKms()
    try:
        yield server
    finally:
        server.stop()


async def test_an_unreachable_provider_fails_clearly_and_writes_nothing(
    test_db: base.TestDatabase, lonely_kms: MotoKms
) -> None:
    store = Store(test_db.urls, AwsKmsProvider(endpoint_url=lonely_kms.endpoint), pool_size=2)
    try:
        tenant = await new_workspace(store, "Provider down")
        async with store.tenant_session(tenant, ACTOR) as ts:
            existing = await records.create_record(ts, BY_NAME["contact"], {"first_name": "Saved"})
        before = count_rows(test_db, tenant)

        lonely_kms.stop()
        store.keyring.purge(tenant)

        started = time.monotonic()
        with pytest.raises(KeyUnavailable) as failure:
            async with store.tenant_session(tenant, ACTOR) as ts:
                await records.create_record(ts, BY_NAME["contact"], UNSAVED)
        assert time.monotonic() - started < 30, "fails promptly instead of hanging"
        error = failure.value
        assert error.code == "key_unavailable" and error.retryable is True
        assert "cannot be reached" in error.detail and "try again" in error.detail
        assert str(tenant) not in error.detail and "Unsavedina" not in error.detail

        with pytest.raises(KeyUnavailable):
            async with store.tenant_session(tenant, ACTOR) as ts:
                await records.get_record(ts, BY_NAME["contact"], existing.id)  # type: ignore[attr-defined]

        # Nothing was written: no contact, no subject key, no token, no audit event, no plaintext.
        assert count_rows(test_db, tenant) == before
        assert superuser_scan(test_db, [*UNSAVED.values(), "Unsavedina", "Neverwritten"]) == []

        # Creating a workspace fails the same way, and leaves no workspace behind.
        with pytest.raises(KeyUnavailable):
            await tenants.create_workspace(
                store, name="Born offline", owner_email="offline@example.com", actor="system:test"
            )
        assert superuser_rows(
            test_db, "SELECT count(*) FROM tenants WHERE name = 'Born offline'"
        ) == [(0,)]
    finally:
        await store.close()
