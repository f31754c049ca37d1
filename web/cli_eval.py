"""`flowgrid eval`: run the tool-safety and utility evals (`evals.safety`) and print the report.

Like `flowgrid bench`, the evals run in a child process (web/cli_child.py) on their own
throwaway PostgreSQL. The exit status is the child's: 1 when a safety guarantee was broken or a
case could not run, 2 when the evals could not run at all.
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from web.cli_child import run_harness


def evaluate(
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Run both sets with this model (offline, anthropic:...); default: a compromised "
            "scripted model attacks, the offline model serves the utility set",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON document")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON document to this file")
    ] = None,
) -> None:
    """Tool-safety evals (attacks judged by their side effects) and utility evals."""
    args = ["--model", model] if model else []
    args += ["--json"] if as_json else []
    args += ["--out", str(out)] if out is not None else []
    code = run_harness("evals.safety", *args)
    if code == 1:
        print(
            "flowgrid: a guarantee did not hold or a case could not run (see the report)",
            file=sys.stderr,
        )
        raise typer.Exit(1)
    if code != 0:  # the child said why in one line
        raise typer.Exit(2)
