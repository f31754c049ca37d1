"""`flowgrid eval`: the tool-safety and utility evals, on a private, throwaway PostgreSQL.

Safety cases (evals/safety/attack.py) run real chat turns with the compromised model unless
`--model` names another, and nobody approves anything; judges read what happened from outside
(evals/safety/judges.py). Utility cases (evals/safety/utility.py) run plain requests through the
offline model (or `--model`) and check their side effects. See docs/evals.md.

The report is `{"safety": {"cases", "violations", "harness_errors", "classes": {class:
{"cases", "violations"}}, "failures"}, "utility": {"cases", "passed", "rate", "failures"},
"model": {...}}`: per class, `cases` counts the cases aimed at it and `violations` the
violations of it found in any case. The exit status is 1 when a guarantee was broken or a case
could not run, 2 when the evals could not run at all.
"""

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from agent.models import OFFLINE, choose_model
from agent.turn import ChatService
from evals.database import private_database
from evals.safety.attack import COMPROMISED, compromised_service, evaluate_safety
from evals.safety.evidence import captured_logs
from evals.safety.report import redact, render, safety_summary, utility_summary
from evals.safety.utility import evaluate_utility
from evals.safety.world import World, build_world, listening
from store.crypto.providers import LocalKeyProvider
from store.database import DatabaseUrls
from store.runtime import Store

ATTACKER_HOST = "127.0.0.2"  # another address than the integration's, on this machine


def service_for(model: str) -> ChatService:
    """The chat service of a set: the compromised model, or a named one."""
    if model == COMPROMISED:
        return compromised_service()
    return ChatService(choice=choose_model(model))


async def run_all(
    store: Store, superuser: str, urls: DatabaseUrls, keystore: Path | None, *, model: str | None
) -> dict[str, Any]:
    """Both sets, each on a fresh world of this database; returns the report document."""
    safety_model = model or COMPROMISED
    utility_model = OFFLINE if model in (None, COMPROMISED) else model
    with ExitStack() as stack:
        integration_sink = stack.enter_context(listening())
        attacker_sink = stack.enter_context(listening(ATTACKER_HOST))

        async def world() -> World:
            return await build_world(
                store,
                superuser=superuser,
                urls=urls,
                keystore=keystore,
                integration_sink=integration_sink,
                attacker_sink=attacker_sink,
            )

        safety_service, utility_service = service_for(safety_model), service_for(utility_model)
        attacked, helped = await world(), await world()
        safety = safety_summary(await evaluate_safety(attacked, safety_service))
        utility = utility_summary(await evaluate_utility(helped, utility_service))
        await safety_service.drain()
        await utility_service.drain()
    document = {
        "safety": safety,
        "utility": utility,
        "model": {"safety": safety_service.choice.name, "utility": utility_service.choice.name},
    }
    return redact(document, [*attacked.secrets.values(), *helped.secrets.values()])


def run(model: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="flowgrid-eval-") as tmp:
        root = Path(tmp)
        with private_database(root) as scratch:
            keystore = root / "keys"
            provider = LocalKeyProvider(keystore, database_dir=root / "pg")

            async def go() -> dict[str, Any]:
                store = Store(scratch.urls, provider, pool_size=4)
                try:
                    return await run_all(
                        store, scratch.superuser, scratch.urls, keystore, model=model
                    )
                finally:
                    await store.close()

            return asyncio.run(go())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.safety", description=__doc__)
    parser.add_argument(
        "--model",
        help="run both sets with this model (e.g. anthropic:claude-sonnet-4-6, offline); "
        "default: the compromised scripted model for safety, the offline model for utility",
    )
    parser.add_argument("--json", action="store_true", help="print the JSON document")
    parser.add_argument("--out", type=Path, help="also write the JSON document to this file")
    args = parser.parse_args(argv)
    if args.model and args.model != COMPROMISED:
        try:
            choose_model(args.model)
        except Exception as exc:  # an unknown provider or a missing key: one line, no trace
            sys.stderr.write(f"flowgrid eval: cannot use model {args.model!r}: {_line(exc)}\n")
            return 2
    try:
        with captured_logs():  # log lines are evidence, not output
            report = run(args.model)
    except Exception as exc:  # the harness itself broke: one line, and never "all held"
        sys.stderr.write(f"flowgrid eval: the evals could not run: {_line(exc)}\n")
        return 2
    document = json.dumps(report, indent=2)
    if args.out is not None:
        args.out.write_text(document + "\n")
    sys.stdout.write((document if args.json else render(report)) + "\n")
    safety = report["safety"]
    return 1 if safety["violations"] or safety["harness_errors"] else 0


def _line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
