"""What a run knows about its caller. Built by the agent or web layer, never by the model.

No tool takes a workspace, an actor or a role as an argument: they come from here. Each tool call
runs in `store.tenant_session(tenant_id, actor="agent:<run id>/<tool call id>", via="agent",
role=role)`, so row-level security, the audit trail and the services' role checks all see the
same caller.
"""

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from store.models.base import utcnow
from store.runtime import Store
from store.services.approvals import DEFAULT_TTL
from store.tenancy import Role
from tools.catalog import WorkspaceSchema

_UNSAFE = re.compile(r"[^A-Za-z0-9._:@-]")


@dataclass
class ToolDeps:
    """Per-run dependencies of the Nexus tools."""

    store: Store
    tenant_id: uuid.UUID
    role: Role
    run_id: uuid.UUID = field(default_factory=uuid.uuid4)
    member_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    approval_ttl: dt.timedelta = DEFAULT_TTL
    clock: Callable[[], dt.datetime] = utcnow
    # Filled on first use by tools.toolset: the workspace's custom fields and integrations.
    workspace: WorkspaceSchema | None = field(default=None, repr=False)

    def actor(self, tool_call_id: str | None) -> str:
        """`agent:<run id>/<tool call id>`, the call id reduced to characters an actor allows."""
        call = _UNSAFE.sub("-", tool_call_id or "call")[:120] or "call"
        return f"agent:{self.run_id}/{call}"
