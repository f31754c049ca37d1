"""Running an `evals` harness as a child process for the CLI.

`web` and `evals` are independent layers (import-linter), so `flowgrid bench` and `flowgrid
eval` start `python -m evals.<harness>` instead of importing it; the child starts its own
throwaway PostgreSQL and never touches the data dir.
"""

import subprocess
import sys

import typer


def run_harness(module: str, *args: str) -> int:
    """The child's exit status; Ctrl-C stops it and exits 130 with one line."""
    try:
        return subprocess.run([sys.executable, "-m", module, *args], check=False).returncode
    except KeyboardInterrupt:
        print("flowgrid: interrupted", file=sys.stderr)
        raise typer.Exit(130) from None
