"""Run the benchmarks on a private, throwaway PostgreSQL and report them as one JSON document.

The harness starts the embedded PostgreSQL from the wheel in a temporary directory (never the
user's data dir), creates the roles and schema exactly as FlowGrid does, runs the benchmarks in
`evals.bench.crypto`, and deletes everything afterwards.
"""

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.ext.asyncio import create_async_engine

from evals.bench import audit, chat, chat_http, crypto
from evals.database import private_database
from store.crypto.providers import AwsKmsProvider, KeyProvider, LocalKeyProvider
from store.database import DatabaseUrls
from store.runtime import Store
from store.services import tenants

Kms = Literal["local", "aws"]


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of one run. `quick` is for a laptop minute; `full` is the published configuration."""

    mode: str
    contacts: int  # N: contacts in the searched workspace
    operations: int  # record operations counted for provider calls
    sealing_samples: int  # contacts sealed and opened per timing pass
    search_samples: int  # queries per search benchmark (the median is reported)
    load_batch: int = 50  # contacts per transaction when loading
    kms: Kms = "local"
    audit_updates: int = 3_000  # single-row update transactions, audited vs trigger off
    audit_rows: int = 200_000  # rows inserted, audited vs trigger off
    audit_trail: int = 1_000_000  # events in the trail that is verified and exported
    chat_turns: int = 50  # sequential scripted turns (3 tool calls each) for p50/p95
    chat_concurrent: int = 200  # turns started at once; any failure fails the run
    http_turns: int = 50  # sequential turns over HTTP (first SSE byte p50/p95)
    http_concurrent: int = 200  # turns streaming at once through `flowgrid serve`

    @classmethod
    def full(cls) -> "BenchConfig":
        return cls(
            "full", contacts=100_000, operations=10_000, sealing_samples=5_000, search_samples=50
        )

    @classmethod
    def quick(cls) -> "BenchConfig":
        return cls(
            "quick",
            contacts=5_000,
            operations=1_000,
            sealing_samples=1_000,
            search_samples=20,
            audit_updates=300,
            audit_rows=20_000,
            audit_trail=20_000,
            chat_turns=20,
            http_turns=20,
        )


def run(config: BenchConfig) -> dict[str, Any]:
    """Run every benchmark once; returns `{"machine": {...}, "results": [...]}`."""
    with tempfile.TemporaryDirectory(prefix="flowgrid-bench-") as tmp:
        root = Path(tmp)
        with private_database(root) as scratch:
            urls = scratch.urls
            provider = _provider(config.kms, keystore=root / "keys", database_dir=root / "pg")
            report, invite_token = asyncio.run(_run(urls, provider, config))
            with chat_http.flowgrid_server(
                urls, root, kms=config.kms, kms_endpoint=os.environ.get("FLOWGRID_KMS_ENDPOINT")
            ) as base_url:
                report["results"] += asyncio.run(
                    chat_http.run_http_benchmarks(
                        base_url,
                        invite_token,
                        turns=config.http_turns,
                        concurrent=config.http_concurrent,
                    )
                )
            return report


def _provider(kms: Kms, *, keystore: Path, database_dir: Path) -> KeyProvider:
    if kms == "aws":
        # Any KMS-compatible endpoint (FLOWGRID_KMS_ENDPOINT), or AWS itself when unset.
        return AwsKmsProvider(endpoint_url=os.environ.get("FLOWGRID_KMS_ENDPOINT"))
    return LocalKeyProvider(keystore, database_dir=database_dir)


async def _run(
    urls: DatabaseUrls, provider: KeyProvider, config: BenchConfig
) -> tuple[dict[str, Any], str]:
    """The in-process benchmarks; also returns the benchmark workspace owner's invite token."""
    store = Store(urls, provider, pool_size=4)
    owner = create_async_engine(urls.owner, pool_size=2)
    try:
        created = await tenants.create_workspace(
            store, name="Benchmark", owner_email="bench@example.com", actor=crypto.ACTOR
        )
        tenant = created.tenant_id
        people = crypto.make_people(config.contacts)
        started = time.perf_counter()
        ids = await crypto.load_contacts(store, tenant, people, batch=config.load_batch)
        load_seconds = time.perf_counter() - started

        results = [await crypto.bench_sealing(store, tenant, people[: config.sealing_samples])]
        results += await crypto.bench_provider_calls(store, tenant, ids, config.operations)
        await crypto.create_plain_table(owner, tenant, people)
        try:
            results += await crypto.bench_search(
                store, owner, tenant, people, samples=min(config.search_samples, len(people))
            )
        finally:
            await crypto.drop_plain_table(owner)
        chat_results = await chat.run_chat_benchmarks(
            store, tenant, turns=config.chat_turns, concurrent=config.chat_concurrent
        )
        audit_results = await audit.run_audit_benchmarks(
            store,
            updates=config.audit_updates,
            rows=config.audit_rows,
            trail=config.audit_trail,
        )
        async with owner.connect() as conn:
            server_version = conn.dialect.server_version_info
    finally:
        await owner.dispose()
        await store.close()
    machine = _machine(config, provider)
    machine["postgresql"] = ".".join(str(part) for part in server_version or ())
    machine["load_seconds"] = round(load_seconds, 1)
    machine["load_contacts_per_second"] = round(len(people) / load_seconds, 1)
    report = {
        "machine": machine,
        "results": [r.as_dict() for r in results] + chat_results + audit_results,
    }
    return report, created.invite_token


def _machine(config: BenchConfig, provider: KeyProvider) -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "cryptography": version("cryptography"),
        "key_provider": provider.name,
        "config": asdict(config),
        "notes": (
            "ratios = flowgrid / baseline from this run; contacts are loaded through the sealing "
            "code with the audit trail on, load_batch contacts per transaction"
        ),
    }


def render(report: dict[str, Any]) -> str:
    """A plain-text table of a report, for people."""
    lines = [f"{'benchmark':58} {'unit':34} {'baseline':>11} {'flowgrid':>11} {'ratio':>9}"]
    for r in report["results"]:
        lines.append(
            f"{r['name'][:58]:58} {r['unit'][:34]:34} {r['baseline']:>11.4g} {r['flowgrid']:>11.4g} "
            f"{r['ratio']:>9.4g}"
        )
    machine = report["machine"]
    lines.append(
        f"({machine['config']['mode']} run, {machine['key_provider']} keys, PostgreSQL "
        f"{machine['postgresql']}, {machine['cpus']} CPUs, loaded {machine['config']['contacts']} "
        f"contacts in {machine['load_seconds']} s)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (N = 5,000 contacts)")
    parser.add_argument("--json", action="store_true", help="print the JSON document")
    parser.add_argument("--out", type=Path, help="also write the JSON document to this file")
    parser.add_argument("--contacts", type=int, help="override N, the contacts searched")
    parser.add_argument("--operations", type=int, help="override the operations counted")
    parser.add_argument("--kms", choices=("local", "aws"), default="local", help="key provider")
    args = parser.parse_args(argv)
    config = BenchConfig.quick() if args.quick else BenchConfig.full()
    config = replace(config, kms=args.kms)
    if args.contacts is not None:
        config = replace(
            config,
            contacts=args.contacts,
            sealing_samples=min(config.sealing_samples, args.contacts),
            # Audit sizes scale with N so a tiny smoke run stays tiny.
            audit_updates=min(config.audit_updates, args.contacts),
            audit_rows=min(config.audit_rows, args.contacts * 4),
            audit_trail=min(config.audit_trail, args.contacts * 4),
            chat_turns=min(config.chat_turns, max(5, args.contacts // 20)),
            chat_concurrent=min(config.chat_concurrent, max(10, args.contacts // 4)),
            http_turns=min(config.http_turns, max(5, args.contacts // 20)),
            http_concurrent=min(config.http_concurrent, max(10, args.contacts // 4)),
        )
    if args.operations is not None:
        config = replace(config, operations=args.operations)
    report = run(config)
    document = json.dumps(report, indent=2)
    if args.out is not None:
        args.out.write_text(document + "\n")
    sys.stdout.write((document if args.json else render(report)) + "\n")
    return 0
