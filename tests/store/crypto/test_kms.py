"""The `aws` key provider against a real KMS-compatible HTTP endpoint (moto's server, via boto3).

moto does not enforce key states: a disabled key still decrypts there. The promise "a disabled
key stops decryption" is therefore kept by `AwsKmsProvider` checking DescribeKey itself, and these
tests prove that check end to end.
"""

import datetime as dt
import uuid
from typing import Any

import botocore.exceptions
import pytest

import tests.conftest as base
from store.crypto.providers import AwsKmsProvider
from store.entities import BY_NAME
from store.errors import DecryptionFailed, WorkspaceRetired
from store.runtime import Store
from store.services import records, tenants
from tests.store.crypto.conftest import (
    ACTOR,
    MotoKms,
    new_workspace,
    superuser_rows,
    superuser_set,
)


def _key_ref(test_db: base.TestDatabase, tenant: uuid.UUID) -> str:
    ((ref,),) = superuser_rows(test_db, "SELECT key_ref FROM tenants WHERE id = %s", tenant)
    return ref


def _wrapped_dek(test_db: base.TestDatabase, tenant: uuid.UUID) -> tuple[uuid.UUID, bytes]:
    ((row_id, wrapped),) = superuser_rows(
        test_db,
        "SELECT id, wrapped FROM data_keys WHERE tenant_id = %s AND key_version = 1",
        tenant,
    )
    return row_id, bytes(wrapped)


async def _contact(store: Store, tenant: uuid.UUID, email: str) -> uuid.UUID:
    async with store.tenant_session(tenant, ACTOR) as ts:
        made = await records.create_record(
            ts, BY_NAME["contact"], {"first_name": "Kim", "email": email}
        )
    return made.id  # type: ignore[attr-defined]


async def _read(store: Store, tenant: uuid.UUID, contact: uuid.UUID) -> str:
    async with store.tenant_session(tenant, ACTOR) as ts:
        return (await records.get_record(ts, BY_NAME["contact"], contact)).email  # type: ignore[attr-defined]


def _kms_error(call: Any) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as failure:
        call()
    return failure.value.response["Error"]["Code"]


async def test_each_workspace_gets_its_own_kms_key_and_data_key(
    aws_store: Store, test_db: base.TestDatabase, moto_kms: MotoKms
) -> None:
    a, b = await new_workspace(aws_store, "KMS A"), await new_workspace(aws_store, "KMS B")
    ref_a, ref_b = _key_ref(test_db, a), _key_ref(test_db, b)
    assert ref_a != ref_b
    kms = moto_kms.client()
    assert kms.describe_key(KeyId=f"alias/flowgrid/{a}")["KeyMetadata"]["KeyId"] == ref_a
    assert kms.describe_key(KeyId=ref_a)["KeyMetadata"]["KeyState"] == "Enabled"
    _, wrapped = _wrapped_dek(test_db, a)
    plaintext = kms.decrypt(CiphertextBlob=wrapped, EncryptionContext={"tenant": str(a)})[
        "Plaintext"
    ]
    assert len(plaintext) == 32 and plaintext not in wrapped


async def test_the_encryption_context_binds_a_data_key_to_its_workspace(
    aws_store: Store, test_db: base.TestDatabase, moto_kms: MotoKms
) -> None:
    a, b = await new_workspace(aws_store, "Context A"), await new_workspace(aws_store, "Context B")
    ref_a, ref_b = _key_ref(test_db, a), _key_ref(test_db, b)
    _, wrapped_a = _wrapped_dek(test_db, a)
    kms = moto_kms.client()
    # At the KMS level: A's wrapped data key needs A's context, exactly.
    for context in ({"tenant": str(b)}, {}, {"tenant": str(a), "extra": "x"}):
        assert _kms_error(
            lambda c=context: kms.decrypt(CiphertextBlob=wrapped_a, EncryptionContext=c)
        ) == ("InvalidCiphertextException")
    # Through the provider: unwrapping A's data key as B fails, with B's key or with A's.
    provider = aws_store.provider
    assert len(provider.unwrap(a, ref_a, wrapped_a)) == 32
    for key_ref in (ref_b, ref_a):
        with pytest.raises(DecryptionFailed, match="refused this data key"):
            provider.unwrap(b, key_ref, wrapped_a)

    # End to end: A's wrapped data key planted in B's row makes B unreadable, never A-readable.
    contact_b = await _contact(aws_store, b, "b@context.example")
    row_b, wrapped_b = _wrapped_dek(test_db, b)
    superuser_set(test_db, "data_keys", "wrapped", row_b, wrapped_a)
    try:
        aws_store.keyring.purge(b)
        with pytest.raises(DecryptionFailed):
            await _read(aws_store, b, contact_b)
    finally:
        superuser_set(test_db, "data_keys", "wrapped", row_b, wrapped_b)
    aws_store.keyring.purge(b)
    assert await _read(aws_store, b, contact_b) == "b@context.example"


async def test_a_disabled_key_stops_decryption_once_the_cache_is_purged(
    aws_store: Store, test_db: base.TestDatabase, moto_kms: MotoKms
) -> None:
    tenant = await new_workspace(aws_store, "Disabled")
    contact = await _contact(aws_store, tenant, "kim@disabled.example")
    kms, ref = moto_kms.client(), _key_ref(test_db, tenant)
    kms.disable_key(KeyId=ref)  # directly, as an operator or a compromised-account response would
    try:
        # A key already in this process's cache keeps working until it expires (<= 300 s):
        # the window the documentation states.
        assert await _read(aws_store, tenant, contact) == "kim@disabled.example"
        aws_store.keyring.purge(tenant)
        with pytest.raises(WorkspaceRetired):
            await _read(aws_store, tenant, contact)
        # A process that starts now cannot read either.
        fresh = Store(test_db.urls, AwsKmsProvider(endpoint_url=moto_kms.endpoint), pool_size=2)
        try:
            with pytest.raises(WorkspaceRetired):
                await _read(fresh, tenant, contact)
            assert fresh.provider.calls["Decrypt"] == 0, "refused before asking KMS to decrypt"
        finally:
            await fresh.close()
    finally:
        kms.enable_key(KeyId=ref)
    # Disabling is reversible; retirement (below) is not.
    assert await _read(aws_store, tenant, contact) == "kim@disabled.example"


async def test_retiring_disables_and_schedules_deletion_and_is_idempotent(
    aws_store: Store, test_db: base.TestDatabase, moto_kms: MotoKms
) -> None:
    tenant, other = (
        await new_workspace(aws_store, "Retired KMS"),
        await new_workspace(aws_store, "Kept KMS"),
    )
    contact = await _contact(aws_store, tenant, "gone@kms.example")
    kept = await _contact(aws_store, other, "kept@kms.example")
    ref = _key_ref(test_db, tenant)

    assert await tenants.retire_workspace(aws_store, tenant) == "pending_deletion"

    meta = moto_kms.client().describe_key(KeyId=ref)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion" and meta["Enabled"] is False
    window = meta["DeletionDate"] - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=6, hours=23) < window <= dt.timedelta(days=7)
    with pytest.raises(WorkspaceRetired):
        await _read(aws_store, tenant, contact)
    _, wrapped = _wrapped_dek(test_db, tenant)
    with pytest.raises(WorkspaceRetired):
        aws_store.provider.unwrap(tenant, ref, wrapped)
    assert await _read(aws_store, other, kept) == "kept@kms.example"

    # Again: no error (real KMS refuses DisableKey on a key pending deletion; we don't ask).
    calls_before = aws_store.provider.calls.copy()
    assert await tenants.retire_workspace(aws_store, tenant) == "pending_deletion"
    assert aws_store.provider.calls["DisableKey"] == calls_before["DisableKey"]
    assert aws_store.provider.calls["ScheduleKeyDeletion"] == calls_before["ScheduleKeyDeletion"]
    info = {i.tenant_id: i for i in await tenants.list_workspaces(aws_store)}
    assert (info[tenant].status, info[tenant].key_state) == ("retired", "pending_deletion")
    assert (info[other].status, info[other].key_state) == ("active", "enabled")


async def test_kms_is_called_once_per_workspace_per_cache_period_not_per_operation(
    aws_store: Store, test_db: base.TestDatabase
) -> None:
    tenants_ = [await new_workspace(aws_store, f"Counted {i}") for i in range(2)]
    contacts = {
        t: [await _contact(aws_store, t, f"{i}@count.example") for i in range(5)] for t in tenants_
    }
    for tenant in tenants_:
        aws_store.keyring.purge(tenant)
    aws_store.provider.calls.clear()

    operations = 0
    for round_ in range(10):
        for tenant in tenants_:
            async with aws_store.tenant_session(tenant, ACTOR) as ts:
                for contact in contacts[tenant]:
                    await records.get_record(ts, BY_NAME["contact"], contact)
                    operations += 1
                await records.list_records(
                    ts, BY_NAME["contact"], filters={"email": "1@count.example"}
                )
                await records.create_record(ts, BY_NAME["company"], {"name": f"Co {round_}"})
                operations += 2
    calls = dict(aws_store.provider.calls)
    print(f"\n{operations} operations on 2 workspaces -> KMS calls {calls}")
    # One unwrap per workspace, each preceded by the key-state check moto needs us to make.
    assert calls == {"Decrypt": 2, "DescribeKey": 2}
