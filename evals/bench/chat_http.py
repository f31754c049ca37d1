"""Chat over real HTTP: a `flowgrid serve` process, an HTTP client, server-sent events on a socket.

`evals.bench.chat` times a turn inside one process. This module times what a browser sees: the
server is the real command (`python -m web serve`, uvicorn, one worker) started as a child
process on the benchmark's database, and the client is httpx over TCP, signed in the way a
browser is (invite accepted with a password, session cookie, `Origin` and `X-CSRF-Token`).

The server runs Nexus's offline model (a real model is never called): one turn is
`add contact FIRST LAST`, one `create_contact` tool call in its own tenant transaction. Figures:

- time to the first SSE byte of a turn, beside the round trip of `GET /api/me` (the cheapest
  signed-in answer of the same server);
- a whole turn streamed to `done`, beside `POST /api/v1/contacts` creating the same contact;
- `concurrent` turns streaming at once (each in its own conversation, on its own connection),
  beside the sequential turn rate; any failed stream fails the run.

`evals` may not import `web` (import-linter), so the server is started by module name, exactly as
`flowgrid bench` starts this harness.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from evals.bench.rows import latency_row, result_row
from store.database import DatabaseUrls

PASSWORD = "bench-password-not-secret"  # a throwaway account in a throwaway database
# Variables the server must not inherit: a real model, another database, another key store.
_INHERITED_PREFIXES = ("FLOWGRID_", "NEXUS_", "ANTHROPIC_", "DATABASE_URL")


@dataclass(frozen=True)
class Stream:
    """One turn as the client saw it."""

    first_byte: float  # seconds from sending the request to the first byte of the body
    total: float  # seconds to the end of the stream
    events: list[str]  # event names in order

    @property
    def ok(self) -> bool:
        return (
            bool(self.events)
            and self.events[0] == "message-start"
            and self.events[-1] == "done"
            and "error" not in self.events
            and "tool-result" in self.events
        )


@contextmanager
def flowgrid_server(
    urls: DatabaseUrls, data_dir: Path, *, kms: str, kms_endpoint: str | None
) -> Iterator[str]:
    """`flowgrid serve` on a free local port against `urls`; yields its base URL, stops it after.

    `data_dir` must be where the benchmark's local keystore lives (`<data_dir>/keys`), so the
    server opens the workspace the harness created.
    """
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
    env.update(
        DATABASE_URL=urls.owner,
        FLOWGRID_APP_DATABASE_URL=urls.app,
        FLOWGRID_DATA_DIR=str(data_dir),
        FLOWGRID_KMS=kms,
        FLOWGRID_PUBLIC_URL=base_url,
        NEXUS_MODEL="offline",
    )
    if kms_endpoint:
        env["FLOWGRID_KMS_ENDPOINT"] = kms_endpoint
    command = [sys.executable, "-m", "web", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_healthy(server, base_url, log)
            yield base_url
        finally:
            _stop(server)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_healthy(server: subprocess.Popen[bytes], base_url: str, log: Any) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            tail = log.read().decode(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError(f"flowgrid serve exited ({server.returncode}): {' | '.join(tail)}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("flowgrid serve did not answer /healthz within 60 s")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)  # what Ctrl-C does: uvicorn drains running turns
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class Client:
    """An httpx client that behaves like the browser: cookies, `Origin`, the CSRF token."""

    def __init__(self, base_url: str, *, connections: int) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Origin": base_url},
            limits=limits,
            timeout=httpx.Timeout(120.0, connect=30.0, pool=120.0),
        )
        self.csrf = ""

    async def sign_in(self, invite_token: str) -> None:
        answer = await self.http.post(
            "/api/auth/invite/accept", json={"token": invite_token, "password": PASSWORD}
        )
        answer.raise_for_status()
        self.csrf = answer.json()["csrf_token"]

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        answer = await self.http.post(path, json=body, headers={"X-CSRF-Token": self.csrf})
        answer.raise_for_status()
        return answer

    async def me(self) -> float:
        started = time.perf_counter()
        (await self.http.get("/api/me")).raise_for_status()
        return time.perf_counter() - started

    async def create_contact(self) -> float:
        started = time.perf_counter()
        await self.post("/api/v1/contacts", {"first_name": "Bench", "last_name": _stamp()})
        return time.perf_counter() - started

    async def conversation(self) -> str:
        return str((await self.post("/api/chat/conversations", {})).json()["id"])

    async def turn(self, conversation: str) -> Stream:
        """Send `add contact ...` and read the SSE stream to its end."""
        path = f"/api/chat/conversations/{conversation}/messages"
        body = {"text": f"add contact Bench {_stamp()}"}
        started = time.perf_counter()
        first_byte = None
        chunks: list[bytes] = []
        headers = {"X-CSRF-Token": self.csrf, "Accept": "text/event-stream"}
        async with self.http.stream("POST", path, json=body, headers=headers) as answer:
            answer.raise_for_status()
            async for chunk in answer.aiter_raw():
                if first_byte is None and chunk:
                    first_byte = time.perf_counter() - started
                chunks.append(chunk)
        total = time.perf_counter() - started
        return Stream(first_byte or total, total, _event_names(b"".join(chunks)))

    async def aclose(self) -> None:
        await self.http.aclose()


def _stamp() -> str:
    return uuid.uuid4().hex[:8]


def _event_names(body: bytes) -> list[str]:
    text = body.decode().replace("\r\n", "\n")
    return [
        line.removeprefix("event:").strip()
        for line in text.split("\n")
        if line.startswith("event:")
    ]


async def run_http_benchmarks(
    base_url: str, invite_token: str, *, turns: int, concurrent: int
) -> list[dict[str, Any]]:
    """First SSE byte (p50, p95), a whole turn (p50), and `concurrent` streaming turns at once."""
    client = Client(base_url, connections=concurrent + 8)
    try:
        await client.sign_in(invite_token)
        await client.turn(await client.conversation())  # warm the agent and the tool catalog
        me = [await client.me() for _ in range(turns)]
        rest = [await client.create_contact() for _ in range(turns)]
        sequential = [await client.turn(await client.conversation()) for _ in range(turns)]
        _require_ok(sequential, "sequential")

        conversations = [await client.conversation() for _ in range(concurrent)]
        started = time.perf_counter()
        results = await asyncio.gather(
            *(client.turn(c) for c in conversations), return_exceptions=True
        )
        elapsed = time.perf_counter() - started
    finally:
        await client.aclose()
    streams = [r for r in results if isinstance(r, Stream)]
    failures = [r for r in results if not isinstance(r, Stream) or not r.ok]
    if failures:
        raise RuntimeError(
            f"{len(failures)} of {concurrent} concurrent streams failed; first: {failures[0]!r}"
        )

    first = [s.first_byte for s in sequential]
    total = [s.total for s in sequential]
    loaded_first = [s.first_byte for s in streams]
    at_once = f"ms, {concurrent} at once (baseline: one at a time)"
    return [
        latency_row("http.first_sse_byte_p50", "ms (baseline: GET /api/me)", me, first, 0.5),
        latency_row("http.first_sse_byte_p95", "ms (baseline: GET /api/me)", me, first, 0.95),
        latency_row(
            "http.offline_turn_p50", "ms (baseline: POST /api/v1/contacts)", rest, total, 0.5
        ),
        result_row(
            "http.concurrent_streams",
            f"turns/s, {concurrent} at once (baseline: one at a time)",
            len(total) / sum(total),
            concurrent / elapsed,
        ),
        latency_row("http.concurrent_first_sse_byte_p95", at_once, first, loaded_first, 0.95),
    ]


def _require_ok(streams: list[Stream], what: str) -> None:
    bad = [s for s in streams if not s.ok]
    if bad:
        raise RuntimeError(f"{len(bad)} {what} streams did not end in done: {bad[0].events}")
