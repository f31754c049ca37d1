"""Checkpoint signing keys live with the key provider, never usable from the database alone."""

import datetime as dt
import logging
import stat
import struct
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from moto.server import ThreadedMotoServer

from store.audit.checkpoints import write_checkpoint
from store.audit.signing import key_id_of
from store.audit.verify import verify_chain
from store.crypto.providers import AwsKmsProvider
from store.runtime import Store
from store.services import tenants
from tests import conftest
from tests.conftest import MakeWorkspace
from tests.store.audit.helpers import superuser


async def test_local_signing_key_is_a_0600_file_in_the_keystore(
    store: Store, make_workspace: MakeWorkspace, keystore: Path, test_db: conftest.TestDatabase
) -> None:
    tenant = await make_workspace()
    checkpoint = await write_checkpoint(store, tenant)
    assert checkpoint is not None

    path = keystore / f"{tenant}.audit.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = Ed25519PrivateKey.from_private_bytes(path.read_bytes())
    assert checkpoint.key_id == key_id_of(key.public_key())
    # The signed message, rebuilt here from its documented layout.
    micros = (checkpoint.signed_at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(
        microseconds=1
    )
    message = (
        b"flowgrid-audit-checkpoint-v1"
        + tenant.bytes
        + struct.pack(">q", checkpoint.seq)
        + checkpoint.hash
        + struct.pack(">q", micros)
    )
    key.public_key().verify(checkpoint.signature, message)

    with superuser(test_db) as conn:
        rows = conn.execute(
            "SELECT count(*) AS n FROM audit_signing_keys WHERE tenant_id = %s", (tenant,)
        ).fetchone()
    assert rows == {"n": 0}, "with the local provider the database holds no signing key"


async def test_a_replaced_local_signing_key_fails_verification(
    store: Store, make_workspace: MakeWorkspace, keystore: Path
) -> None:
    """Whoever swaps the key file cannot make old checkpoints verify, nor hide that they tried."""
    tenant = await make_workspace()
    checkpoint = await write_checkpoint(store, tenant)
    assert checkpoint is not None
    path = keystore / f"{tenant}.audit.key"
    path.write_bytes(bytes(32))
    result = await verify_chain(store, tenant)
    assert (result.ok, result.first_bad_seq) == (False, checkpoint.seq)


# --- aws: the seed is a KMS data key; the database keeps it wrapped -----------------------------


@pytest.fixture(scope="module")
def kms_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            patch.setenv(name, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
async def kms_store(test_db: conftest.TestDatabase, kms_endpoint: str) -> AsyncIterator[Store]:
    instance = Store(test_db.urls, AwsKmsProvider(endpoint_url=kms_endpoint), pool_size=3)
    try:
        yield instance
    finally:
        await instance.close()


async def test_kms_signing_key_is_stored_only_wrapped(
    kms_store: Store, test_db: conftest.TestDatabase
) -> None:
    created = await tenants.create_workspace(
        kms_store, name="KMS", owner_email=f"o-{uuid.uuid4().hex[:8]}@x.test", actor="system:test"
    )
    tenant = created.tenant_id
    checkpoint = await write_checkpoint(kms_store, tenant)
    assert checkpoint is not None
    assert (await verify_chain(kms_store, tenant)).ok

    with superuser(test_db) as conn:
        (row,) = conn.execute(
            "SELECT key_id, wrapped FROM audit_signing_keys WHERE tenant_id = %s", (tenant,)
        ).fetchall()
    assert row["key_id"] == checkpoint.key_id
    assert len(row["wrapped"]) > 32, "a KMS ciphertext blob, not a bare seed"
    assert kms_store.provider.calls["GenerateDataKey"] >= 2  # the workspace DEK and the seed

    # Put another validly wrapped blob of the same workspace (its data key) in the row: it
    # unwraps, but to a key with another id, so it vouches for nothing.
    with superuser(test_db, replica=True) as conn:
        conn.execute(
            "UPDATE audit_signing_keys SET wrapped = (SELECT wrapped FROM data_keys WHERE "
            "tenant_id = %(t)s AND key_version = 1) WHERE tenant_id = %(t)s",
            {"t": tenant},
        )
    result = await verify_chain(kms_store, tenant)
    assert (result.ok, result.first_bad_seq) == (False, checkpoint.seq)
