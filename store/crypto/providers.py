"""Key providers hold each workspace's key-encryption key (KEK) and never hand it out.

They generate data keys (returned in plaintext once, and wrapped for storage) and unwrap them.
`local` keeps one key file per workspace in a keystore directory that must sit outside the
database's data directory; `aws` keeps one KMS key per workspace and binds every data key to the
workspace with the encryption context `{"tenant": <id>}`.
"""

import os
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

import boto3
import botocore.exceptions
from botocore.config import Config as BotoConfig

from store.crypto.aead import Header, KeyKind, Place, new_key, seal, unseal
from store.errors import DecryptionFailed, InvalidInput, KeyUnavailable, WorkspaceRetired

KEY_STATES = ("enabled", "disabled", "pending_deletion", "destroyed")


class KeyProvider(Protocol):
    name: str
    calls: Counter[str]

    def create_key(self, tenant_id: uuid.UUID) -> str:
        """Create the workspace KEK; returns its reference (never key material)."""
        ...

    def generate_data_key(self, tenant_id: uuid.UUID, key_ref: str) -> tuple[bytes, bytes]:
        """A fresh 256-bit data key: (plaintext, wrapped by the KEK)."""
        ...

    def unwrap(self, tenant_id: uuid.UUID, key_ref: str, wrapped: bytes) -> bytes: ...

    def key_state(self, tenant_id: uuid.UUID, key_ref: str) -> str: ...

    def retire(self, tenant_id: uuid.UUID, key_ref: str) -> str:
        """Disable or destroy the KEK; returns the resulting state."""
        ...

    def check_health(self) -> None:
        """Raise KeyUnavailable when the provider cannot serve requests."""
        ...


class LocalKeyProvider:
    """One 256-bit KEK per workspace in `<keystore>/<tenant id>.key`, mode 0600."""

    name = "local"

    def __init__(self, keystore: Path, *, database_dir: Path | None = None) -> None:
        keystore = keystore.resolve()
        if database_dir is not None and keystore.is_relative_to(database_dir.resolve()):
            raise InvalidInput(
                f"the keystore {keystore} sits inside the database directory; keys must not be "
                "stored next to the data they protect"
            )
        keystore.mkdir(parents=True, exist_ok=True, mode=0o700)
        keystore.chmod(0o700)
        self.keystore = keystore
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _path(self, tenant_id: uuid.UUID) -> Path:
        return self.keystore / f"{tenant_id}.key"

    def create_key(self, tenant_id: uuid.UUID) -> str:
        path = self._path(tenant_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(new_key())
        self.calls["CreateKey"] += 1
        return f"local:{tenant_id}"

    def _kek(self, tenant_id: uuid.UUID) -> bytes:
        try:
            return self._path(tenant_id).read_bytes()
        except FileNotFoundError:
            raise WorkspaceRetired(tenant_id) from None

    def _place(self, tenant_id: uuid.UUID) -> Place:
        return Place(tenant_id, "data_keys", "wrapped", tenant_id)

    def generate_data_key(self, tenant_id: uuid.UUID, key_ref: str) -> tuple[bytes, bytes]:
        self.calls["GenerateDataKey"] += 1
        dek = new_key()
        wrapped = seal(
            self._kek(tenant_id),
            dek,
            header=Header(KeyKind.DATA_KEY, 0),
            place=self._place(tenant_id),
        )
        return dek, wrapped

    def unwrap(self, tenant_id: uuid.UUID, key_ref: str, wrapped: bytes) -> bytes:
        self.calls["Decrypt"] += 1
        return unseal(self._kek(tenant_id), wrapped, place=self._place(tenant_id))

    def key_state(self, tenant_id: uuid.UUID, key_ref: str) -> str:
        return "enabled" if self._path(tenant_id).exists() else "destroyed"

    def check_health(self) -> None:
        if not os.access(self.keystore, os.R_OK | os.W_OK | os.X_OK):
            raise KeyUnavailable(f"the keystore {self.keystore} is not accessible")

    def retire(self, tenant_id: uuid.UUID, key_ref: str) -> str:
        path = self._path(tenant_id)
        with self._lock:
            if path.exists():
                # Overwrite before unlinking so the key does not linger in the file's blocks.
                with path.open("r+b") as handle:
                    handle.write(os.urandom(len(path.read_bytes())))
                    handle.flush()
                    os.fsync(handle.fileno())
                path.unlink()
        return "destroyed"


class AwsKmsProvider:
    """One KMS key per workspace (alias `alias/flowgrid/<tenant id>`), via boto3.

    The key state is checked before every unwrap: KMS refuses a disabled key itself, but
    KMS-compatible servers used in tests (moto) do not, and the promise must hold either way.
    """

    name = "aws"
    DELETION_WINDOW_DAYS = 7

    def __init__(self, *, endpoint_url: str | None = None, region: str | None = None) -> None:
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        self._client: Any = boto3.client(
            "kms",
            endpoint_url=endpoint_url,
            region_name=region or "us-east-1",
            config=BotoConfig(retries={"max_attempts": 2}, connect_timeout=3, read_timeout=10),
        )
        self.calls: Counter[str] = Counter()

    def _call(self, operation: str, tenant_id: uuid.UUID, **kwargs: Any) -> dict[str, Any]:
        self.calls[operation] += 1
        try:
            return getattr(self._client, _snake(operation))(**kwargs)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"DisabledException", "KMSInvalidStateException", "NotFoundException"}:
                raise WorkspaceRetired(tenant_id) from None
            if code in {"InvalidCiphertextException", "IncorrectKeyException"} or (
                # Real KMS says IncorrectKeyException for a blob of another key; KMS-compatible
                # servers (moto) say AccessDenied. Neither is worth retrying.
                operation == "Decrypt" and code == "AccessDeniedException"
            ):
                raise DecryptionFailed(
                    "the key provider refused this data key for this workspace"
                ) from None
            raise KeyUnavailable(f"key provider error {code or 'unknown'}; try again") from None
        except (botocore.exceptions.BotoCoreError, OSError):
            raise KeyUnavailable("the key provider cannot be reached; try again shortly") from None

    def create_key(self, tenant_id: uuid.UUID) -> str:
        key = self._call(
            "CreateKey",
            tenant_id,
            Description=f"FlowGrid workspace {tenant_id}",
            KeyUsage="ENCRYPT_DECRYPT",
            Tags=[{"TagKey": "flowgrid:tenant", "TagValue": str(tenant_id)}],
        )
        key_id = key["KeyMetadata"]["KeyId"]
        self._call(
            "CreateAlias", tenant_id, AliasName=f"alias/flowgrid/{tenant_id}", TargetKeyId=key_id
        )
        return key_id

    def generate_data_key(self, tenant_id: uuid.UUID, key_ref: str) -> tuple[bytes, bytes]:
        self._require_enabled(tenant_id, key_ref)
        out = self._call(
            "GenerateDataKey",
            tenant_id,
            KeyId=key_ref,
            KeySpec="AES_256",
            EncryptionContext=_context(tenant_id),
        )
        return out["Plaintext"], out["CiphertextBlob"]

    def unwrap(self, tenant_id: uuid.UUID, key_ref: str, wrapped: bytes) -> bytes:
        self._require_enabled(tenant_id, key_ref)
        out = self._call(
            "Decrypt",
            tenant_id,
            KeyId=key_ref,
            CiphertextBlob=wrapped,
            EncryptionContext=_context(tenant_id),
        )
        return out["Plaintext"]

    def key_state(self, tenant_id: uuid.UUID, key_ref: str) -> str:
        try:
            meta = self._call("DescribeKey", tenant_id, KeyId=key_ref)["KeyMetadata"]
        except WorkspaceRetired:
            return "destroyed"
        return {
            "Enabled": "enabled",
            "Disabled": "disabled",
            "PendingDeletion": "pending_deletion",
        }.get(meta["KeyState"], "disabled")

    def check_health(self) -> None:
        self.calls["ListAliases"] += 1
        try:
            self._client.list_aliases(Limit=1)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError):
            raise KeyUnavailable("the key provider cannot be reached") from None

    def retire(self, tenant_id: uuid.UUID, key_ref: str) -> str:
        """Disable the key at once, then schedule its deletion. Idempotent.

        Real KMS refuses DisableKey on a key already pending deletion, so each step runs only
        when the key is not past it yet: retiring twice, or finishing a retirement that failed
        halfway, succeeds.
        """
        state = self.key_state(tenant_id, key_ref)
        if state == "enabled":
            self._call("DisableKey", tenant_id, KeyId=key_ref)
            state = "disabled"
        if state == "disabled":
            self._call(
                "ScheduleKeyDeletion",
                tenant_id,
                KeyId=key_ref,
                PendingWindowInDays=self.DELETION_WINDOW_DAYS,
            )
            state = "pending_deletion"
        return state

    def _require_enabled(self, tenant_id: uuid.UUID, key_ref: str) -> None:
        if self.key_state(tenant_id, key_ref) != "enabled":
            raise WorkspaceRetired(tenant_id)


def _context(tenant_id: uuid.UUID) -> dict[str, str]:
    return {"tenant": str(tenant_id)}


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")
