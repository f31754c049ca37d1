"""`flowgrid admin invite` and `flowgrid token create`, run as real processes on a real data dir."""

import json
from pathlib import Path
from typing import Any

import pytest
import typer

from tests.web.test_cli import assert_one_line_error, run
from web.cli import app as cli_app


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flowgrid-access")


@pytest.fixture(scope="module")
def tenant(data_dir: Path) -> dict[str, str]:
    created = run(data_dir, "tenant", "create", "Initech", "--owner", "Bill@Initech.test", "--json")
    assert created.returncode == 0, created.stderr
    return json.loads(created.stdout)


def test_tenant_create_reports_a_working_invite(tenant: dict[str, str]) -> None:
    assert tenant["invite_status"] == "active"
    assert tenant["invite_url"].startswith("http://localhost:8000/login?invite=")


def test_admin_invite_prints_a_single_use_enrollment_link(data_dir: Path) -> None:
    result = run(data_dir, "admin", "invite", "Staff@FlowGrid.test", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["email"] == "staff@flowgrid.test"
    assert doc["enroll_url"].startswith("http://localhost:8000/platform?enroll=")
    again = json.loads(run(data_dir, "admin", "invite", "staff@flowgrid.test", "--json").stdout)
    assert again["enroll_url"] != doc["enroll_url"], "every link is new"


def test_admin_invite_follows_the_public_url(data_dir: Path) -> None:
    result = run(
        data_dir,
        "admin",
        "invite",
        "ops@flowgrid.test",
        env={"FLOWGRID_PUBLIC_URL": "https://crm.example.test"},
    )
    assert result.returncode == 0 and "https://crm.example.test/platform?enroll=" in result.stdout


def test_admin_invite_errors(data_dir: Path, tenant: dict[str, str]) -> None:
    assert_one_line_error(run(data_dir, "admin", "invite", "not-an-email"), "not a valid email")
    assert_one_line_error(
        run(data_dir, "admin", "invite", "bill@initech.test"), "a platform admin needs an address"
    )


def test_token_create(data_dir: Path, tenant: dict[str, str]) -> None:
    result = run(
        data_dir,
        "token",
        "create",
        tenant["tenant_id"],
        "--email",
        "bill@initech.test",
        "--name",
        "nightly export",
        "--role",
        "viewer",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["token"].startswith("fg_") and doc["role"] == "viewer" and doc["kind"] == "api"
    assert doc["tenant_id"] == tenant["tenant_id"]
    bot = json.loads(
        run(
            data_dir,
            "token",
            "create",
            tenant["tenant_id"],
            "--email",
            "bill@initech.test",
            "--name",
            "nexus",
            "--kind",
            "bot",
            "--json",
        ).stdout
    )
    assert bot["token"].startswith("fgb_") and bot["role"] == "owner", "defaults to the member's"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--email", "nobody@initech.test", "--name", "x"), "is not a member"),
        (("--email", "bill@initech.test", "--name", "x", "--kind", "robot"), "--kind"),
        (("--email", "bill@initech.test", "--name", "x", "--role", "god"), "role must be"),
        (("--email", "bill@initech.test", "--name", " "), "name"),
    ],
)
def test_token_create_errors(
    data_dir: Path, tenant: dict[str, str], args: tuple[str, ...], expected: str
) -> None:
    assert_one_line_error(run(data_dir, "token", "create", tenant["tenant_id"], *args), expected)


def test_no_command_takes_a_password_argument() -> None:
    """Passwords never go on a command line (shell history, `ps`)."""
    command = typer.main.get_command(cli_app)

    def walk(cmd: Any) -> list[str]:
        names = [p.name or "" for p in cmd.params]
        for sub in getattr(cmd, "commands", {}).values():
            names += walk(sub)
        return names

    names = walk(command)
    assert {"email", "name", "role", "kind"} <= set(names), "the walk reaches the subcommands"
    assert not [n for n in names if "pass" in n.lower() or "secret" in n.lower()]
