"""`flowgrid eval`: run the tool-safety and utility evals (`evals.safety`) and print the report.

Like `flowgrid bench`, the evals run in a child `python -m evals.safety` process (`web` and
`evals` are independent layers) on their own throwaway PostgreSQL; the data dir is never used.
The exit status is the child's: 1 when a safety guarantee was broken or a case could not run.
"""

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer


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
    args = [sys.executable, "-m", "evals.safety"]
    args += ["--model", model] if model else []
    args += ["--json"] if as_json else []
    args += ["--out", str(out)] if out is not None else []
    try:
        code = subprocess.run(args, check=False).returncode
    except KeyboardInterrupt:
        print("flowgrid: interrupted", file=sys.stderr)
        raise typer.Exit(130) from None
    if code == 1:
        print(
            "flowgrid: a guarantee did not hold or a case could not run (see the report)",
            file=sys.stderr,
        )
        raise typer.Exit(1)
    if code != 0:  # the child said why in one line
        raise typer.Exit(2)
