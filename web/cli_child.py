"""Running an `evals` harness as a child process for the CLI.

`web` and `evals` are independent layers (import-linter), so `flowgrid bench` and `flowgrid
eval` start `python -m evals.<harness>` instead of importing it; the child starts its own
throwaway PostgreSQL and never touches the data dir.
"""

import subprocess
import sys

import typer

STOP_SECONDS = 60  # for the child to stop its PostgreSQL and remove its directory


def run_harness(module: str, *args: str) -> int:
    """The child's exit status. Ctrl-C reaches the child too; it gets time to clean up."""
    child = subprocess.Popen([sys.executable, "-m", module, *args])
    try:
        return child.wait()
    except KeyboardInterrupt:
        try:
            child.wait(timeout=STOP_SECONDS)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            child.kill()
        print("flowgrid: interrupted", file=sys.stderr)
        raise typer.Exit(130) from None
