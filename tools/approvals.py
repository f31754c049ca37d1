"""Approvals as the chat layer sees them: what to show, and how a person's decision resumes a run.

A destructive or egress call pauses the run with pydantic-ai's `DeferredToolRequests`; the
executor has already stored the request server-side (`store.services.approvals`) and put its id,
effect, preview and expiry in the call's metadata. `pending_approvals` turns that into the
`approval-request` events of the chat stream. When the person decides, `decide` records it (as
that person, bound to the stored request) and returns the `DeferredToolResults` entry to resume
the run with. Approving in the client alone does nothing: the executor runs a call only after
claiming an approved request for that exact call and arguments.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic_ai import DeferredToolRequests, DeferredToolResults, ToolDenied

from store.errors import Conflict
from store.services import approvals
from store.tenancy import Via
from tools.deps import ToolDeps


@dataclass(frozen=True)
class Decision:
    """A person's decision on one approval request, ready to resume the paused run."""

    approval_id: uuid.UUID
    tool_call_id: str
    approved: bool
    reason: str | None = None

    def result(self) -> bool | ToolDenied:
        return True if self.approved else ToolDenied(self.reason or "The user declined this.")


def pending_approvals(requests: DeferredToolRequests) -> list[dict[str, Any]]:
    """One `approval-request` event body per paused call."""
    events = []
    for call in requests.approvals:
        meta = requests.metadata.get(call.tool_call_id, {})
        events.append(
            {
                "approval_id": meta.get("approval_id"),
                "tool_call_id": call.tool_call_id,
                "name": call.tool_name,
                "args": call.args_as_dict(),
                "effect": meta.get("effect"),
                "preview": meta.get("preview"),
                "expires_at": meta.get("expires_at"),
            }
        )
    return events


async def decide(
    deps: ToolDeps,
    approval_id: uuid.UUID,
    *,
    approve: bool,
    reason: str | None = None,
    via: Via = "ui",
) -> Decision:
    """Record the signed-in person's decision on a stored request (as `member:<id>`).

    Raises `store.errors.Conflict` when the request was already decided or has expired, and
    `NotFound` when this workspace has no such request.
    """
    if deps.member_id is None:
        raise ValueError("a decision needs the deciding member")
    actor = f"member:{deps.member_id}"
    async with deps.store.tenant_session(deps.tenant_id, actor, via=via, role=deps.role) as ts:
        state = await approvals.decide(
            ts, approval_id, approve=approve, member_id=deps.member_id, now=deps.clock()
        )
        request = await approvals.get_request(ts, approval_id)
    if state == "expired":
        raise Conflict("this request expired before it was decided; ask Nexus again")
    return Decision(approval_id, request["tool_call_id"], approve, reason)


def results_for(decisions: list[Decision]) -> DeferredToolResults:
    """The deferred results that resume a paused run with these decisions."""
    return DeferredToolResults(
        approvals={d.tool_call_id: d.result() for d in decisions},
        metadata={d.tool_call_id: {"approval_id": str(d.approval_id)} for d in decisions},
    )
