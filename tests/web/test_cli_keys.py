"""`flowgrid keys rotate` and `flowgrid tenant retire`, end to end in real processes.

Each command starts the embedded PostgreSQL in its own data dir, as a user would run it.
"""

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store.crypto.conftest import MotoKms

FLOWGRID = str(Path(sys.executable).with_name("flowgrid"))
_SETTINGS = ("DATABASE_URL", "FLOWGRID_APP_DATABASE_URL", "FLOWGRID_KMS", "FLOWGRID_KMS_ENDPOINT")


def run(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in _SETTINGS and not k.startswith("AWS_")}
    full_env = {**base, "FLOWGRID_DATA_DIR": str(data_dir), **(env or {})}
    return subprocess.run(
        [FLOWGRID, *args], capture_output=True, text=True, env=full_env, timeout=180, check=False
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return " ".join(result.stdout.split())  # rich wraps lines at the terminal width


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("flowgrid: ")
    return line


def workspaces(data_dir: Path, env: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
    listed = json.loads(ok(run(data_dir, "tenant", "list", "--json", env=env)))
    return {w["tenant_id"]: w for w in listed["workspaces"]}


def create(data_dir: Path, name: str, env: dict[str, str] | None = None) -> str:
    out = ok(
        run(data_dir, "tenant", "create", name, "--owner", "keys@example.com", "--json", env=env)
    )
    return json.loads(out)["tenant_id"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flowgrid-keys")


def test_rotate_then_retire_with_the_local_keystore(data_dir: Path) -> None:
    tenant = create(data_dir, "Rotate and retire")
    other = create(data_dir, "Bystander")
    key_file = data_dir / "keys" / f"{tenant}.key"
    assert key_file.exists()

    assert "data key version 2" in ok(run(data_dir, "keys", "rotate", tenant))
    assert "--yes" in one_line_error(run(data_dir, "tenant", "retire", tenant))
    assert key_file.exists()

    assert "key destroyed" in ok(run(data_dir, "tenant", "retire", tenant, "--yes"))
    listed = workspaces(data_dir)
    retired, bystander = listed[tenant], listed[other]
    assert (retired["status"], retired["key_state"]) == ("retired", "destroyed")
    assert retired["retired_at"] is not None
    assert not key_file.exists()
    assert (bystander["status"], bystander["key_state"]) == ("active", "enabled")

    # A second retire is harmless and changes nothing (not even the retirement date).
    assert "key destroyed" in ok(run(data_dir, "tenant", "retire", tenant, "--yes"))
    assert workspaces(data_dir)[tenant] == retired

    # A retired workspace's keys cannot be rotated; the error says why, in one line.
    assert "retired" in one_line_error(run(data_dir, "keys", "rotate", tenant))
    assert "not a workspace id" in one_line_error(run(data_dir, "keys", "rotate", "nope"))


@pytest.fixture
def kms_env() -> Iterator[dict[str, str]]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            patch.setenv(name, "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        server = MotoKms()
        try:
            yield {
                "FLOWGRID_KMS": "aws",
                "FLOWGRID_KMS_ENDPOINT": server.endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        finally:
            server.stop()


def test_retire_twice_with_kms(tmp_path: Path, kms_env: dict[str, str]) -> None:
    tenant = create(tmp_path, "KMS retire", env=kms_env)
    assert "data key version 2" in ok(run(tmp_path, "keys", "rotate", tenant, env=kms_env))
    for _ in range(2):
        assert "key pending_deletion" in ok(
            run(tmp_path, "tenant", "retire", tenant, "--yes", env=kms_env)
        )
    retired = workspaces(tmp_path, env=kms_env)[tenant]
    assert (retired["status"], retired["key_provider"], retired["key_state"]) == (
        "retired",
        "aws",
        "pending_deletion",
    )
