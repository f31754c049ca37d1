"""How every tool call runs: role re-check, one tenant transaction, approvals, error mapping.

1. The caller's role is checked against the tool's minimum, whatever the model was offered.
2. The body runs in `store.tenant_session(tenant, actor="agent:<run id>/<tool call id>",
   via="agent", role=role)`: one transaction, committed when the body returns, rolled back when
   it raises. Row-level security, the audit trigger and the services all see that caller.
3. Pausing tools (destructive, egress) first store an approval request with a preview and a
   snapshot and raise `ApprovalRequired`; once a person approved, the call claims the approval
   (exact arguments, unused, unexpired) and re-checks the snapshot under lock before writing.
4. Domain errors the model can fix (bad input, not found, conflict) become `ModelRetry` with the
   service's message; refusals (role, retired workspace) become `ToolFailed`; anything else is
   logged and becomes a `ToolFailed` with a reference, never a crashed run and never the
   exception's text, which may hold data the model should not see.
5. The result is compacted, bounded and wrapped as data (`tools.results.as_data`).
"""

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai import ApprovalRequired, ModelRetry, RunContext, ToolFailed

from store.errors import Conflict, DomainError, InvalidInput, NotFound
from store.services import approvals
from store.services.approvals import RecordRef
from store.tenancy import TenantSession
from tools.catalog import ToolSpec
from tools.deps import ToolDeps
from tools.results import as_data, compact

logger = logging.getLogger("flowgrid.tools")
RETRYABLE = (InvalidInput, NotFound, Conflict)


@dataclass
class ToolCall:
    """What a tool body works with: this call's tenant session and the run's dependencies."""

    ts: TenantSession
    deps: ToolDeps
    tool_call_id: str

    @property
    def now(self) -> dt.datetime:
        return self.deps.clock()


@dataclass(frozen=True)
class Preview:
    """What a pausing call would touch (snapshotted) and what to show the person approving."""

    touches: list[RecordRef]
    summary: Any = field(default=None)


@dataclass(frozen=True)
class AfterCommit:
    """A body result whose last step (a network request) runs after the transaction commits."""

    run: Callable[[], Awaitable[Any]]


Body = Callable[[ToolCall], Awaitable[Any]]
PreviewFn = Callable[[ToolCall], Awaitable[Preview]]


class _Changed(Exception):
    def __init__(self, keys: list[str]) -> None:
        super().__init__(", ".join(keys))
        self.keys = keys


async def execute(
    ctx: RunContext[ToolDeps],
    spec: ToolSpec,
    args: Mapping[str, Any],
    body: Body,
    preview: PreviewFn | None = None,
) -> dict[str, Any]:
    """Run one tool call for the run's caller; see the module docstring for the steps."""
    deps = ctx.deps
    if not spec.allows(deps.role):
        raise ToolFailed(
            f"{spec.name} needs the {spec.min_role} role and this user is a {deps.role}; "
            "nothing was done"
        )
    try:
        if spec.pauses:
            if preview is None:
                raise TypeError(f"{spec.name} pauses for approval but has no preview")
            return as_data(await _approved_run(ctx, spec, dict(args), body, preview))
        return as_data(await _run(ctx, body))
    except (ApprovalRequired, ModelRetry, ToolFailed):
        raise
    except RETRYABLE as exc:
        raise ModelRetry(exc.detail) from None
    except DomainError as exc:
        raise ToolFailed(exc.detail) from None
    except Exception:
        reference = uuid.uuid4().hex[:10]
        logger.exception("tool %s failed (reference %s)", spec.name, reference)
        raise ToolFailed(
            f"{spec.name} failed unexpectedly (reference {reference}); its changes were rolled "
            "back. Tell the user; do not retry it."
        ) from None


async def _run(ctx: RunContext[ToolDeps], body: Body) -> Any:
    async with _session(ctx) as ts:
        result = await body(ToolCall(ts, ctx.deps, _call_id(ctx)))
    return await result.run() if isinstance(result, AfterCommit) else result


async def _approved_run(
    ctx: RunContext[ToolDeps],
    spec: ToolSpec,
    args: dict[str, Any],
    body: Body,
    preview: PreviewFn,
) -> Any:
    deps = ctx.deps
    if not ctx.tool_call_approved:
        await _pause(ctx, spec, args, preview)
    async with _session(ctx) as ts:
        claim = await approvals.claim(
            ts,
            conversation_id=deps.conversation_id,
            tool_call_id=_call_id(ctx),
            tool_name=spec.name,
            args_digest=approvals.args_hash(spec.name, args),
            now=deps.clock(),
        )
    if claim.refusal is not None or claim.snapshot is None:
        raise ToolFailed(f"Not done: {claim.refusal}.")
    try:
        async with _session(ctx) as ts:
            call = ToolCall(ts, deps, _call_id(ctx))
            current = await approvals.versions(ts, (await preview(call)).touches, lock=True)
            changed = approvals.changed_records(claim.snapshot["records"], current)
            if changed:
                raise _Changed(changed)
            result = await body(call)
    except _Changed as exc:
        assert claim.approval_id is not None
        async with _session(ctx) as ts:
            await approvals.mark_conflict(ts, claim.approval_id)
        raise ToolFailed(
            f"Not done: {len(exc.keys)} record(s) changed after the approval was asked for "
            f"({', '.join(exc.keys[:5])}); nothing was written. Read them again and ask again."
        ) from None
    return await result.run() if isinstance(result, AfterCommit) else result


async def _pause(
    ctx: RunContext[ToolDeps], spec: ToolSpec, args: dict[str, Any], preview: PreviewFn
) -> None:
    deps = ctx.deps
    async with _session(ctx) as ts:
        shown = await preview(ToolCall(ts, deps, _call_id(ctx)))
        summary = compact(shown.summary)
        pending = await approvals.open_request(
            ts,
            run_id=deps.run_id,
            conversation_id=deps.conversation_id,
            tool_call_id=_call_id(ctx),
            tool_name=spec.name,
            args=args,
            touches=shown.touches,
            preview=summary,
            now=deps.clock(),
            ttl=deps.approval_ttl,
        )
    raise ApprovalRequired(
        metadata={
            "approval_id": str(pending.approval_id),
            "effect": spec.effect,
            "preview": summary,
            "expires_at": pending.expires_at.isoformat(),
        }
    )


def _session(ctx: RunContext[ToolDeps]) -> Any:
    deps = ctx.deps
    return deps.store.tenant_session(
        deps.tenant_id, deps.actor(ctx.tool_call_id), via="agent", role=deps.role
    )


def _call_id(ctx: RunContext[ToolDeps]) -> str:
    return ctx.tool_call_id or "call"
