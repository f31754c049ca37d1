"""`flowgrid bench`: run the benchmark harness (`evals.bench`) and print or save its report.

The harness runs in a child process (web/cli_child.py) on its own throwaway PostgreSQL.
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from web.cli_child import run_harness


def bench(
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON document")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON document to this file")
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Small sizes (5,000 contacts) for a quick look")
    ] = False,
    contacts: Annotated[
        int | None, typer.Option("--contacts", min=50, help="Override N, the contacts searched")
    ] = None,
    kms: Annotated[
        str, typer.Option("--kms", help="Key provider: local, or aws (FLOWGRID_KMS_ENDPOINT)")
    ] = "local",
) -> None:
    """Benchmarks (encryption, search, chat in process and over HTTP, audit) beside baselines."""
    if kms not in ("local", "aws"):
        print(f"flowgrid: --kms must be local or aws, not {kms!r}", file=sys.stderr)
        raise typer.Exit(2)
    args = ["--kms", kms]
    args += ["--json"] if as_json else []
    args += ["--quick"] if quick else []
    args += ["--out", str(out)] if out is not None else []
    args += ["--contacts", str(contacts)] if contacts is not None else []
    code = run_harness("evals.bench", *args)
    if code != 0:
        print(f"flowgrid: the benchmark failed (exit {code})", file=sys.stderr)
        raise typer.Exit(1)
