"""The one way Nexus reaches the network: an integration a workspace admin created.

`call_integration` is offered only in workspaces with an enabled integration, and only for the
entities their scopes cover. It pauses for approval (showing the exact payload and destination),
then POSTs the records as JSON to the integration's own URL:

- the destination's scheme, host and port must equal the integration's (an optional `path` may
  extend the URL but never move it to another host), redirects are not followed, proxies from
  the environment are ignored;
- the body is at most 64 KiB, the answer is read up to 16 KiB, the whole request gets 10 s;
- the request is signed: `X-FlowGrid-Timestamp: <unix seconds>` and
  `X-FlowGrid-Signature: v1=<hex HMAC-SHA256(secret, "v1:<timestamp>:" + body)>`; receivers
  recompute it and refuse timestamps older than a few minutes.

No other tool imports an HTTP client (tests/tools/test_egress.py checks that no other tool
opens a socket).
"""

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field, create_model
from pydantic_ai import Tool, ToolFailed

from store.entities import BY_PLURAL
from store.errors import Forbidden, InvalidInput
from store.services import integrations
from store.services.approvals import RecordRef
from tools.arguments import FORBID
from tools.catalog import ToolSpec, WorkspaceSchema
from tools.deps import ToolDeps
from tools.execution import AfterCommit, Preview, ToolCall
from tools.registry import NexusTool, domain_tool, model_tool

SIGNATURE_HEADER = "X-FlowGrid-Signature"
TIMESTAMP_HEADER = "X-FlowGrid-Timestamp"
MAX_REQUEST_BYTES = 64 * 1024
MAX_RESPONSE_BYTES = 16 * 1024
TOTAL_SECONDS = 10.0
TIMEOUT = httpx.Timeout(5.0, connect=3.0)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"v1:{timestamp}:".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


@domain_tool(entity="integration", effect="read", min_role="member")
async def list_integrations(call: ToolCall) -> Any:
    """List the workspace's integrations (name, destination, scopes, enabled), never secrets."""
    return await integrations.list_integrations(call.ts)


CALL_SPEC = ToolSpec(
    name="call_integration",
    entity="integration",
    effect="egress",
    min_role="member",
    description="Send records to one of the workspace's integrations (a webhook an admin set up),"
    " e.g. to hand a won deal to invoicing. Only entities the integration's scopes cover can be"
    " sent. Pauses for the user's approval, showing exactly what would be sent and where.",
)


def call_args(entities: tuple[str, ...]) -> type[BaseModel]:
    return create_model(  # pyright: ignore[reportCallIssue, reportUnknownVariableType]
        "CallIntegrationArgs",
        __config__=FORBID,
        integration_id=(uuid.UUID, Field(description="The integration (from list_integrations)")),
        entity=(
            Literal[entities],  # pyright: ignore[reportInvalidTypeArguments, reportArgumentType]
            Field(description="The kind of records to send"),
        ),
        record_ids=(
            list[uuid.UUID],
            Field(
                min_length=1,
                max_length=integrations.MAX_RECORDS_PER_CALL,
                description="The records to send",
            ),
        ),
        message=(
            str | None,
            Field(default=None, max_length=2000, description="A note sent with the records"),
        ),
        path=(
            str | None,
            Field(
                default=None,
                max_length=200,
                description="A path under the integration's URL, e.g. deals/won",
            ),
        ),
    )


async def _outbound(call: ToolCall, args: Any) -> tuple[integrations.OutboundCall, str]:
    outbound = await integrations.prepare_call(
        call.ts,
        args.integration_id,
        entity=BY_PLURAL[args.entity],
        record_ids=args.record_ids,
        message=args.message,
    )
    base = httpx.URL(outbound.destination.url)
    url = str(base.join(args.path)) if args.path else str(base)
    if not outbound.destination.allows(url):
        raise Forbidden(
            f"integration {outbound.name!r} may only reach {outbound.destination.host}; "
            "the path would lead elsewhere"
        )
    return outbound, url


async def _preview(call: ToolCall, args: Any) -> Preview:
    outbound, url = await _outbound(call, args)
    touches = [RecordRef("integrations", args.integration_id)] + [
        RecordRef(BY_PLURAL[args.entity].table_name, i) for i in dict.fromkeys(args.record_ids)
    ]
    summary = {
        "action": "send data out of FlowGrid",
        "integration": outbound.name,
        "destination": url,
        "payload": outbound.payload,
    }
    return Preview(touches, summary)


async def _call(call: ToolCall, args: Any) -> AfterCommit:
    outbound, url = await _outbound(call, args)
    body = json.dumps(outbound.payload, separators=(",", ":"), default=str).encode()
    if len(body) > MAX_REQUEST_BYTES:
        raise InvalidInput(
            f"the payload is over {MAX_REQUEST_BYTES // 1024} KiB; send fewer records"
        )

    async def send() -> dict[str, Any]:
        return await post_signed(outbound, url, body)

    return AfterCommit(send)


async def post_signed(outbound: integrations.OutboundCall, url: str, body: bytes) -> dict[str, Any]:
    """POST a signed body to the integration's destination; answer status and a bounded body."""
    if not outbound.destination.allows(url):
        raise ToolFailed(f"refused: {url} is not the destination of {outbound.name!r}")
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "FlowGrid-Integrations/1",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(outbound.secret, timestamp, body),
    }
    received = bytearray()
    try:
        async with (
            asyncio.timeout(TOTAL_SECONDS),
            httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client,
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            async for chunk in response.aiter_bytes():
                received.extend(chunk[: MAX_RESPONSE_BYTES - len(received)])
                if len(received) >= MAX_RESPONSE_BYTES:
                    break
            status = response.status_code
    except (httpx.HTTPError, TimeoutError) as exc:
        raise ToolFailed(
            f"integration {outbound.name!r} did not answer ({type(exc).__name__}); nothing to retry"
            " automatically"
        ) from None
    return {
        "integration": outbound.name,
        "sent_to": url,
        "status": status,
        "delivered": 200 <= status < 300,
        "response": received.decode("utf-8", errors="replace"),
    }


def _build_call(schema: WorkspaceSchema) -> Tool[ToolDeps] | None:
    if not schema.egress_entities:
        return None
    return model_tool(CALL_SPEC, call_args(schema.egress_entities), _call, _preview)


call_integration = NexusTool(CALL_SPEC, _build_call)

TOOLS: list[NexusTool] = [list_integrations, call_integration]
