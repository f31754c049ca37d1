"""The local key provider: one KEK file per workspace, 0600, in a keystore kept apart from the data."""

import stat
import uuid
from pathlib import Path

import pytest

from store.crypto.providers import LocalKeyProvider
from store.errors import DecryptionFailed, InvalidInput, WorkspaceRetired
from store.runtime import key_provider_from
from store.settings import StoreSettings


def test_a_keystore_inside_the_database_directory_is_refused(tmp_path: Path) -> None:
    pg_dir = tmp_path / "pg"
    pg_dir.mkdir()
    for inside in (pg_dir / "keys", pg_dir / "base" / "keys", pg_dir):
        with pytest.raises(InvalidInput, match="inside the database directory"):
            LocalKeyProvider(inside, database_dir=pg_dir)
    # A symlink that leads into the database directory is resolved and refused too.
    (tmp_path / "sneaky").symlink_to(pg_dir)
    with pytest.raises(InvalidInput, match="inside the database directory"):
        LocalKeyProvider(tmp_path / "sneaky" / "keys", database_dir=pg_dir)
    assert not (pg_dir / "keys").exists(), "a refused keystore must not be created"
    # Beside it is fine.
    LocalKeyProvider(tmp_path / "keys", database_dir=pg_dir)


def test_the_default_layout_keeps_keys_out_of_the_database_directory(tmp_path: Path) -> None:
    settings = StoreSettings(data_dir=tmp_path)
    provider = key_provider_from(settings)
    assert isinstance(provider, LocalKeyProvider)
    assert provider.keystore == (tmp_path / "keys").resolve()
    assert not provider.keystore.is_relative_to(settings.pg_dir.resolve())


def test_key_files_are_private_and_hold_one_256_bit_key(tmp_path: Path) -> None:
    provider = LocalKeyProvider(tmp_path / "keys", database_dir=tmp_path / "pg")
    tenant = uuid.uuid4()
    ref = provider.create_key(tenant)
    path = provider.keystore / f"{tenant}.key"
    assert ref == f"local:{tenant}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(provider.keystore.stat().st_mode) == 0o700
    assert len(path.read_bytes()) == 32
    with pytest.raises(FileExistsError):
        provider.create_key(tenant)  # a KEK is never silently replaced


def test_data_keys_round_trip_and_are_bound_to_their_workspace(tmp_path: Path) -> None:
    provider = LocalKeyProvider(tmp_path / "keys")
    a, b = uuid.uuid4(), uuid.uuid4()
    ref_a, ref_b = provider.create_key(a), provider.create_key(b)
    dek, wrapped = provider.generate_data_key(a, ref_a)
    assert len(dek) == 32 and dek not in wrapped
    assert provider.unwrap(a, ref_a, wrapped) == dek
    with pytest.raises(DecryptionFailed):
        provider.unwrap(b, ref_b, wrapped)
    assert provider.calls["GenerateDataKey"] == 1 and provider.calls["Decrypt"] == 2


def test_retiring_destroys_the_key_file_and_is_idempotent(tmp_path: Path) -> None:
    provider = LocalKeyProvider(tmp_path / "keys")
    tenant = uuid.uuid4()
    ref = provider.create_key(tenant)
    _, wrapped = provider.generate_data_key(tenant, ref)
    assert provider.key_state(tenant, ref) == "enabled"
    assert provider.retire(tenant, ref) == "destroyed"
    assert not (provider.keystore / f"{tenant}.key").exists()
    assert provider.key_state(tenant, ref) == "destroyed"
    with pytest.raises(WorkspaceRetired):
        provider.unwrap(tenant, ref, wrapped)
    assert provider.retire(tenant, ref) == "destroyed"
