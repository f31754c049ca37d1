"""The benchmark harness runs end to end (tiny size) and reports the documented shape.

No timing is asserted: the numbers depend on the machine. What must hold is that every benchmark
ran, measured something on both sides, and produced a positive ratio.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from evals.bench import chat_http

FLOWGRID = str(Path(sys.executable).with_name("flowgrid"))
EXPECTED = {
    "seal+open one contact (5 fields)",
    "key provider unwraps (Decrypt), warm cache",
    "key provider calls of any kind, warm cache",
    "exact email lookup, 200 contacts",
    "name prefix search (first page of 20), 200 contacts",
    "chat.turn_3_tools_p50",
    "chat.turn_3_tools_p95",
    "chat.first_event_p50",
    "chat.concurrent_turns",
    "audit.update_tx",
    "audit.insert_rows",
    "audit.verify",
    "audit.export_jsonl",
    "http.first_sse_byte_p50",
    "http.first_sse_byte_p95",
    "http.offline_turn_p50",
    "http.concurrent_streams",
    "http.concurrent_first_sse_byte_p95",
}


def test_flowgrid_bench_quick_reports_every_benchmark_with_positive_ratios(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWGRID_", "DATABASE_URL"))}
    result = subprocess.run(
        [FLOWGRID, "bench", "--quick", "--contacts", "200", "--json", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert json.loads(out.read_text()) == printed

    assert set(printed) == {"machine", "results"}
    machine = printed["machine"]
    assert machine["config"]["mode"] == "quick" and machine["config"]["contacts"] == 200
    assert machine["key_provider"] == "local" and machine["postgresql"]
    results = printed["results"]
    assert {r["name"] for r in results} == EXPECTED
    for r in results:
        assert set(r) == {"name", "unit", "baseline", "flowgrid", "ratio"}
        assert isinstance(r["unit"], str) and r["unit"]
        for field in ("baseline", "flowgrid", "ratio"):
            assert isinstance(r[field], int | float) and math.isfinite(r[field]) and r[field] > 0, r
    calls = {r["name"]: r for r in results}["key provider unwraps (Decrypt), warm cache"]
    assert calls["flowgrid"] == 1, "one unwrap for the whole run: the cache works"


def test_an_http_stream_counts_only_when_it_starts_calls_a_tool_and_ends_in_done() -> None:
    body = (
        b'id: 1\r\nevent: message-start\r\ndata: {"run_id": "r"}\r\n\r\n'
        b"id: 2\r\nevent: tool-call\r\ndata: {}\r\n\r\n"
        b": ping\r\n\r\n"
        b'id: 3\r\nevent: tool-result\r\ndata: {"ok": true}\r\n\r\n'
        b"id: 4\r\nevent: done\r\ndata: {}\r\n\r\n"
    )
    names = chat_http._event_names(body)  # pyright: ignore[reportPrivateUsage]
    assert names == ["message-start", "tool-call", "tool-result", "done"]
    assert chat_http.Stream(0.01, 0.1, names).ok
    errored = [*names[:-1], "error", "done"]
    assert not chat_http.Stream(0.01, 0.1, errored).ok
    assert not chat_http.Stream(0.01, 0.1, names[:-1]).ok  # cut off before `done`
    assert not chat_http.Stream(0.01, 0.1, ["message-start", "done"]).ok  # no tool ran
