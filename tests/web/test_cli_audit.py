"""`flowgrid audit verify` and `flowgrid audit export`, run as a user runs them."""

import csv
import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from store.audit.export import CSV_COLUMNS
from store.database import libpq_conninfo
from store.embedded import EmbeddedPostgres

FLOWGRID = str(Path(sys.executable).with_name("flowgrid"))


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOWGRID_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [FLOWGRID, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flowgrid-audit-cli")


@pytest.fixture(scope="module")
def tenant(data_dir: Path) -> str:
    created = run(data_dir, "tenant", "create", "Audit Co", "--owner", "a@audit.test", "--json")
    assert created.returncode == 0, created.stderr
    return json.loads(created.stdout)["tenant_id"]


@pytest.fixture
def superuser(data_dir: Path) -> Iterator[str]:
    """The embedded server of the data dir, running, as its superuser (an attacker's view)."""
    server = EmbeddedPostgres(data_dir / "pg", data_dir / "secrets")
    server.ensure_started()
    try:
        yield libpq_conninfo(server.dsn("postgres", server.passwords().superuser, "flowgrid"))
    finally:
        server.stop()


def test_verify_json_on_a_sound_chain(data_dir: Path, tenant: str) -> None:
    result = run(data_dir, "audit", "verify", tenant, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document == {
        "ok": True,
        "events": document["events"],
        "first_bad_seq": None,
        "reason": None,
    }
    assert document["events"] > 0
    plain = run(data_dir, "audit", "verify", tenant)
    assert plain.returncode == 0 and "verifies" in plain.stdout


def test_export_to_files_in_both_formats(data_dir: Path, tenant: str, tmp_path: Path) -> None:
    events = json.loads(run(data_dir, "audit", "verify", tenant, "--json").stdout)["events"]

    jsonl = tmp_path / "trail.jsonl"
    result = run(data_dir, "audit", "export", tenant, "--out", str(jsonl))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(jsonl.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [d["seq"] for d in lines if d["type"] == "event"] == list(range(1, events + 1))
    assert lines[-2] == {
        "type": "verification",
        "ok": True,
        "events": events,
        "first_bad_seq": None,
        "reason": None,
    }
    assert lines[-1]["type"] == "checkpoint" and lines[-1]["seq"] == events
    assert not list(tmp_path.glob(".*.partial"))

    table = tmp_path / "trail.csv"
    result = run(data_dir, "audit", "export", tenant, "--format", "csv", "--out", str(table))
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(table.read_text())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert {int(r[0]) for r in rows[1:]} == set(range(1, events + 1))

    to_stdout = run(data_dir, "audit", "export", tenant)
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert json.loads(to_stdout.stdout.splitlines()[-1])["type"] == "checkpoint"


def test_bad_arguments_are_one_line_errors(data_dir: Path) -> None:
    for args in (("verify", "not-a-uuid"), ("export", "not-a-uuid")):
        result = run(data_dir, "audit", *args)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines() == [
            "flowgrid: 'not-a-uuid' is not a workspace id (a UUID)"
        ]
    unknown = run(data_dir, "audit", "verify", "00000000-0000-4000-8000-000000000000")
    assert unknown.returncode == 1 and len(unknown.stderr.strip().splitlines()) == 1
    bad_format = run(
        data_dir, "audit", "export", "00000000-0000-4000-8000-000000000000", "--format", "xml"
    )
    assert bad_format.returncode == 2


def test_verify_names_the_first_bad_event_and_exits_1(
    data_dir: Path, tenant: str, superuser: str
) -> None:
    with psycopg.connect(superuser) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            "UPDATE audit_events SET actor = 'system:nobody' WHERE tenant_id = %s AND seq = 3",
            (tenant,),
        )
    EmbeddedPostgres(data_dir / "pg", data_dir / "secrets").stop()

    result = run(data_dir, "audit", "verify", tenant, "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert (document["ok"], document["first_bad_seq"]) == (False, 3)
    plain = run(data_dir, "audit", "verify", tenant)
    assert plain.returncode == 1
    (line,) = plain.stderr.strip().splitlines()
    assert line.startswith("flowgrid: audit chain of") and "event 3" in line
    # The export still runs for the investigator, signs nothing and says why.
    exported = run(data_dir, "audit", "export", tenant)
    assert exported.returncode == 0, exported.stderr
    trailer = json.loads(exported.stdout.splitlines()[-1])
    assert (trailer["type"], trailer["ok"], trailer["first_bad_seq"]) == ("verification", False, 3)
    assert "does not verify" in exported.stderr
