"""The app at `/` (chat, pipeline, lists), `/trust` (live security evidence) and `/api/trust`.

The pages are static HTML with ES modules from /static/nexus (no build step), served with the
same strict Content-Security-Policy as every page: scripts, styles, images and connections from
this origin only, so a Markdown image in a model answer can fetch nothing from elsewhere (and
the renderer never makes one an <img> to begin with).
"""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from agent.turn import ChatService
from store.audit.verify import verify_chain
from store.services import trust
from tools.registry import WorkspaceSchema
from tools.toolset import workspace_tools
from web.deps import CurrentPrincipal, StoreDep, Viewer
from web.routes.chat import chat_service
from web.routes.pages import html_page
from web.routes.schemas import errors

router = APIRouter()


@router.get("/", include_in_schema=False)
async def app_page() -> HTMLResponse:
    return html_page("app.html")


@router.get("/trust", include_in_schema=False)
async def trust_page() -> HTMLResponse:
    return html_page("trust.html")


def subprocessors(model_provider: str, key_provider: str) -> list[dict[str, str]]:
    """Who else processes workspace data, from the configuration in use."""
    found = [{"name": "PostgreSQL host chosen by the operator", "purpose": "stores sealed records"}]
    if key_provider == "aws":
        found.append({"name": "AWS KMS", "purpose": "holds the workspace key (no data)"})
    if model_provider == "anthropic":
        found.append(
            {"name": "Anthropic", "purpose": "model provider for Nexus prompts and answers"}
        )
    return found


@router.get("/api/trust", tags=["trust"], responses=errors(401, 403))
async def trust_evidence(
    request: Request, ts: Viewer, principal: CurrentPrincipal, store: StoreDep
) -> dict[str, Any]:
    """Live evidence for the security page, for the caller's workspace."""
    service: ChatService = chat_service(request)
    rls = await trust.rls_status(ts)
    keys = await trust.key_status(store, ts.tenant_id)
    audit = await verify_chain(store, ts.tenant_id, actor=principal.actor, via=principal.via)
    tools = [
        spec for spec, _ in workspace_tools(WorkspaceSchema()) if spec.allows(ts.role or "viewer")
    ]
    return {
        "checked_at": datetime.now(UTC).isoformat(),
        "keys": keys,
        "rls": rls,
        "audit": audit.as_json(),
        "model": {"name": service.choice.name, "provider": service.choice.provider},
        "tools": {"available": len(tools), "pausing": sum(1 for s in tools if s.pauses)},
        "subprocessors": subprocessors(service.choice.provider, keys["provider"]),
    }
