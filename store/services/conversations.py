"""Conversations with Nexus: the server-held, sealed chat history of a workspace.

The history a run continues from is read here and nowhere else: a client sends only its new
text (or an approval decision), never messages, so it cannot inject a tool result or forge an
approved call. Each stored message is one pydantic-ai `ModelMessage` as JSON, sealed with the
workspace's data key like any record field (`ChatMessage.content`), so a database dump shows
no chat text.

Chatting is reading with words, so viewers may hold conversations: these functions check the
caller is a member of the workspace (any role), not that they may write records. A conversation
is its member's own (`get_for`): another member of the workspace cannot read or continue it.
"""

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from store.entities import Entity
from store.errors import NotFound
from store.models import ApprovalRequest, ChatMessage, Conversation
from store.services.sealed_rows import insert_sealed
from store.tenancy import TenantSession

CONVERSATION = Entity("conversation", "conversations", Conversation)
MESSAGE = Entity("chat_message", "chat_messages", ChatMessage)
_conversations = CONVERSATION.table
_messages = MESSAGE.table
_approvals = ApprovalRequest.__table__  # pyright: ignore[reportAttributeAccessIssue]


async def create(
    ts: TenantSession, *, member_id: uuid.UUID | None, title: str | None = None
) -> uuid.UUID:
    """A new, empty conversation of the session's workspace."""
    row_id = uuid.uuid4()
    values: dict[str, Any] = {"title": title, "member_id": member_id}
    await insert_sealed(ts, CONVERSATION, row_id, values)
    return row_id


async def get(ts: TenantSession, conversation_id: uuid.UUID) -> dict[str, Any]:
    """The conversation (title opened), or NotFound, also for another workspace's id."""
    rows = (
        await ts.db.execute(
            sa.select(_conversations).where(
                _conversations.c.tenant_id == ts.tenant_id, _conversations.c.id == conversation_id
            )
        )
    ).all()
    if not rows:
        raise NotFound("conversation", conversation_id)
    (opened,) = await ts.sealer.open_rows(ts, CONVERSATION, [dict(r._mapping) for r in rows])
    return opened


async def get_for(
    ts: TenantSession, conversation_id: uuid.UUID, member_id: uuid.UUID | None
) -> dict[str, Any]:
    """The conversation if it is `member_id`'s own, else NotFound (as for a missing one).

    A conversation belongs to the member who started it: another member of the workspace cannot
    read it, continue it with their own role, or decide its approvals.
    """
    conversation = await get(ts, conversation_id)
    if conversation["member_id"] != member_id:
        raise NotFound("conversation", conversation_id)
    return conversation


async def append(
    ts: TenantSession,
    conversation_id: uuid.UUID,
    role: str,
    messages: Sequence[Any],
    *,
    run_id: uuid.UUID | None,
) -> None:
    """Append one step of a conversation: JSON-ready pydantic-ai messages, in order.

    One row per step (not per message): rows are ordered by `created_at`, which is the same for
    every row of one transaction, so a step's messages stay in one sealed list.
    """
    await get(ts, conversation_id)
    await insert_sealed(
        ts,
        MESSAGE,
        uuid.uuid4(),
        {
            "conversation_id": conversation_id,
            "role": role,
            "content": list(messages),
            "run_id": run_id,
        },
    )


async def load(ts: TenantSession, conversation_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every stored step in order: `{id, role, content (list of messages), run_id, created_at}`."""
    await get(ts, conversation_id)
    rows = (
        await ts.db.execute(
            sa.select(_messages)
            .where(
                _messages.c.tenant_id == ts.tenant_id,
                _messages.c.conversation_id == conversation_id,
            )
            .order_by(_messages.c.created_at)
        )
    ).all()
    opened = await ts.sealer.open_rows(ts, MESSAGE, [dict(r._mapping) for r in rows])
    return [
        {k: row.get(k) for k in ("id", "role", "content", "run_id", "created_at")} for row in opened
    ]


async def approvals(ts: TenantSession, conversation_id: uuid.UUID) -> list[dict[str, Any]]:
    """The approval requests of a conversation (newest last): id, tool call, tool, state."""
    rows = await ts.db.execute(
        sa.select(
            _approvals.c.id,
            _approvals.c.tool_call_id,
            _approvals.c.tool_name,
            _approvals.c.state,
            _approvals.c.expires_at,
        )
        .where(
            _approvals.c.tenant_id == ts.tenant_id,
            _approvals.c.conversation_id == conversation_id,
        )
        .order_by(_approvals.c.created_at)
    )
    return [dict(r._mapping) for r in rows]
