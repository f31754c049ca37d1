"""Architecture rules as tests: the one-way layers, and the loud escape hatch kept in the store."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "tools", "store", "web", "evals")


def test_import_contracts_hold() -> None:
    """web -> agent -> tools -> store, evals beside web; no HTTP below web; no LLM in store."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and "0 broken" in result.stdout


def _calls(path: Path, name: str) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute | ast.Name)
        and (getattr(node, "attr", None) == name or getattr(node, "id", None) == name)
    ]


def test_unscoped_sessions_are_opened_only_by_store_services() -> None:
    """Only the store's own modules may step outside a workspace; routes and tools never do."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in PACKAGES
        if package != "store"
        for path in (ROOT / package).rglob("*.py")
        for line in _calls(path, "dangerously_unscoped_session")
    ]
    assert offenders == []


def test_no_future_annotations_in_table_modules() -> None:
    """SQLModel table modules break under postponed annotations."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "store" / "models").rglob("*.py")
        if "from __future__ import annotations" in path.read_text()
    ]
    assert offenders == []
