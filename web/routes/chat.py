"""`/api/chat/...`: conversations with Nexus, streamed as Server-Sent Events.

Routes parse, call one `agent.turn.ChatService` method, and shape the result. Everything that
can be refused (not signed in, wrong workspace, unknown conversation or approval, a decided
approval, a turn already running) is refused before the stream starts, as a normal JSON error;
once streaming, failures arrive as `error` events. Every event has an `id:` so a client resumes
with `GET .../runs/{run_id}/events` and `Last-Event-ID`.
"""

import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette.sse import EventSourceResponse

from agent.events import RunLog
from agent.turn import Caller, ChatService
from store.auth import signin
from store.auth.principals import Principal
from store.errors import Forbidden
from store.runtime import Store
from store.tenancy import Via
from web.deps import CurrentPrincipal, StoreDep
from web.routes.schemas import errors

router = APIRouter(prefix="/api/chat", tags=["chat"])
PING_SECONDS = 15


class NewConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=200)


class NewMessage(BaseModel):
    """Only the new text: the history is the server's (extra fields are refused)."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=8000)


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approval_id: uuid.UUID
    approve: bool
    reason: str | None = Field(default=None, max_length=500)


def chat_service(request: Request) -> ChatService:
    service = getattr(request.app.state, "chat", None)
    if service is None:
        service = request.app.state.chat = ChatService()
    return service


async def caller_for(store: Store, principal: Principal, via: Via) -> Caller:
    """A member's chat identity: their current role (capped by a token's), read now."""
    if principal.is_platform_admin or principal.tenant_id is None:
        raise Forbidden("Chat is for workspace members.")
    me = await signin.describe(store, principal)
    if me.role is None:
        raise Forbidden("You are not a member of this workspace (any more).")
    return Caller(
        store=store,
        tenant_id=principal.tenant_id,
        member_id=principal.member_id,
        role=me.role,
        actor=principal.actor,
        via=via,
        workspace_name=me.workspace_name or "",
    )


async def chat_caller(principal: CurrentPrincipal, store: StoreDep) -> Caller:
    """The signed-in member (cookie session or API token) and their current role."""
    return await caller_for(store, principal, principal.via)


Service = Annotated[ChatService, Depends(chat_service)]
ChatCaller = Annotated[Caller, Depends(chat_caller)]


def stream(log: RunLog, after: int = 0) -> EventSourceResponse:
    """A run's events from number `after` on, as SSE (`id:`, `event:`, JSON `data:`)."""

    async def events() -> AsyncIterator[dict[str, Any]]:
        async for number, event in log.follow(after):
            yield {"id": str(number), "event": event.kind, "data": json.dumps(event.data())}

    # The run goes on if the client leaves; `ping` keeps proxies from closing a quiet stream.
    return EventSourceResponse(events(), ping=PING_SECONDS, headers={"Cache-Control": "no-store"})


@router.post("/conversations", status_code=201, responses=errors(401, 403))
async def create_conversation(
    caller: ChatCaller, service: Service, body: NewConversation | None = None
) -> dict[str, str]:
    """A new conversation; its history lives on the server, sealed."""
    conversation_id = await service.create_conversation(caller, body.title if body else None)
    return {"id": str(conversation_id)}


@router.get("/conversations/{conversation_id}", responses=errors(401, 403, 404))
async def get_conversation(
    conversation_id: uuid.UUID, caller: ChatCaller, service: Service
) -> dict[str, Any]:
    """The stored history as display items, and the conversation's approval requests."""
    return await service.history(caller, conversation_id)


@router.post(
    "/conversations/{conversation_id}/messages",
    responses=errors(401, 403, 404, 409, 422),
    response_class=EventSourceResponse,
)
async def send_message(
    conversation_id: uuid.UUID, body: NewMessage, caller: ChatCaller, service: Service
) -> EventSourceResponse:
    """One turn of Nexus for this text, streamed."""
    return stream(await service.send(caller, conversation_id, body.text))


@router.post(
    "/conversations/{conversation_id}/approvals",
    responses=errors(401, 403, 404, 409, 422),
    response_class=EventSourceResponse,
)
async def decide_approval(
    conversation_id: uuid.UUID, body: ApprovalDecision, caller: ChatCaller, service: Service
) -> EventSourceResponse:
    """Approve or deny a paused call of this conversation; the turn continues, streamed."""
    log = await service.decide(
        caller, conversation_id, body.approval_id, approve=body.approve, reason=body.reason
    )
    return stream(log)


@router.get(
    "/conversations/{conversation_id}/runs/{run_id}/events",
    responses=errors(401, 403, 404),
    response_class=EventSourceResponse,
)
async def run_events(
    conversation_id: uuid.UUID,
    run_id: uuid.UUID,
    caller: ChatCaller,
    service: Service,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Replay a running or recent run from after `Last-Event-ID` (all of it without one)."""
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    return stream(await service.events(caller, conversation_id, run_id), after)
