"""The `flowgrid` command line, run as a user runs it: a real process on a real data dir."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

FLOWGRID = str(Path(sys.executable).with_name("flowgrid"))


def run(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "FLOWGRID_DATA_DIR": str(data_dir), **(env or {})}
    return subprocess.run(
        [FLOWGRID, *args], capture_output=True, text=True, env=full_env, timeout=120, check=False
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("flowgrid: ") and expected in lines[0], lines[0]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flowgrid-data")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TestTenantCommands:
    def test_create_then_list(self, data_dir: Path) -> None:
        created = run(
            data_dir, "tenant", "create", "Acme Inc", "--owner", "Ann@Acme.test", "--json"
        )
        assert created.returncode == 0, created.stderr
        doc = json.loads(created.stdout)
        assert doc["owner"] == "ann@acme.test"
        assert doc["invite_url"].startswith("http://localhost:8000/login?invite=")
        listed = json.loads(run(data_dir, "tenant", "list", "--json").stdout)
        ours = [w for w in listed["workspaces"] if w["tenant_id"] == doc["tenant_id"]]
        assert ours and ours[0]["status"] == "active" and ours[0]["key_state"] == "enabled"

    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            (("tenant", "create", " ", "--owner", "a@b.test"), "workspace name"),
            (("tenant", "create", "X", "--owner", "not-an-email"), "not a valid email"),
            (("keys", "rotate", "nope"), "not a workspace id"),
            (("keys", "rotate", "6f1c1f0e-8d0a-4a8e-9a57-7d1f2a1e0b11"), "No workspace with id"),
            (("tenant", "retire", "6f1c1f0e-8d0a-4a8e-9a57-7d1f2a1e0b11"), "pass --yes"),
        ],
    )
    def test_bad_arguments_are_one_line_errors_and_create_nothing(
        self, data_dir: Path, args: tuple[str, ...], expected: str
    ) -> None:
        before = run(data_dir, "tenant", "list", "--json").stdout
        assert_one_line_error(run(data_dir, *args), expected)
        assert run(data_dir, "tenant", "list", "--json").stdout == before

    def test_usage_errors_follow_click(self, data_dir: Path) -> None:
        result = run(data_dir, "tenant", "create", "X")
        assert (
            result.returncode == 2
            and "--owner" in result.stderr
            and "Traceback" not in result.stderr
        )

    def test_db_url_prints_the_owner_dsn(self, data_dir: Path) -> None:
        result = run(data_dir, "db", "url")
        assert result.returncode == 0
        assert result.stdout.startswith("postgresql://flowgrid_owner:")


class TestEnvironmentProblems:
    def test_unreachable_database_url(self, tmp_path: Path) -> None:
        env = {
            "DATABASE_URL": "postgresql://flowgrid_owner:x@127.0.0.1:9/flowgrid",
            "FLOWGRID_APP_DATABASE_URL": "postgresql://flowgrid_app:x@127.0.0.1:9/flowgrid",
        }
        result = run(tmp_path, "db", "migrate", env=env)
        assert_one_line_error(
            result, "cannot reach PostgreSQL at postgresql+psycopg://flowgrid_owner:***@"
        )

    def test_app_url_is_required_with_database_url(self, tmp_path: Path) -> None:
        result = run(
            tmp_path, "db", "migrate", env={"DATABASE_URL": "postgresql://u:p@127.0.0.1:9/x"}
        )
        assert_one_line_error(result, "FLOWGRID_APP_DATABASE_URL")

    def test_data_dir_not_writable(self, tmp_path: Path) -> None:
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory")
        result = run(blocker / "data", "tenant", "list")
        assert_one_line_error(result, "is not writable")

    def test_bad_setting(self, tmp_path: Path) -> None:
        assert_one_line_error(
            run(tmp_path, "tenant", "list", env={"FLOWGRID_KMS": "vault"}), "FLOWGRID_KMS"
        )

    def test_port_in_use(self, data_dir: Path) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = run(data_dir, "serve", "--port", str(port))
        assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}")


@pytest.fixture
def server(data_dir: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    env = {**os.environ, "FLOWGRID_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen(
        [FLOWGRID, "serve", "--port", str(port), "--demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_healthy(port: int, proc: subprocess.Popen[str], timeout: float = 60) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.2)
    raise AssertionError("serve never became healthy")


def postmaster_running(data_dir: Path) -> bool:
    return (data_dir / "pg" / "postmaster.pid").exists()


class TestServe:
    def test_serve_health_ctrl_c_and_restart_reuses_data(
        self, server: tuple[subprocess.Popen[str], int], data_dir: Path
    ) -> None:
        proc, port = server
        assert wait_healthy(port, proc) == {"status": "ok"}
        assert postmaster_running(data_dir)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert not postmaster_running(data_dir), "Ctrl-C must stop the embedded PostgreSQL too"
        workspaces = json.loads(run(data_dir, "tenant", "list", "--json").stdout)["workspaces"]
        assert any(w["name"] == "Demo workspace" for w in workspaces)

        again = subprocess.Popen(
            [FLOWGRID, "serve", "--port", str(port), "--demo"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "FLOWGRID_DATA_DIR": str(data_dir)},
        )
        try:
            assert wait_healthy(port, again) == {"status": "ok"}
        finally:
            again.send_signal(signal.SIGINT)
            again.wait(timeout=60)
        demos = [
            w
            for w in json.loads(run(data_dir, "tenant", "list", "--json").stdout)["workspaces"]
            if w["name"] == "Demo workspace"
        ]
        assert len(demos) == 1, "a restart reuses the data and does not seed the demo twice"
