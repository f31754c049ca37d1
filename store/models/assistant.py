"""What Nexus and the channels need: integrations, chat history, Slack-style messages, approvals."""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from store.models.base import (
    KeyedBy,
    TenantRow,
    choice,
    public_text,
    reference,
    sealed,
    sealed_under,
    tenant_fk,
)
from store.models.work import RECORD_TYPES

INTEGRATION_KINDS = ("webhook",)
CHAT_ROLES = ("user", "assistant", "tool")
APPROVAL_STATES = ("pending", "approved", "denied", "expired", "executed", "conflict")


class Integration(TenantRow, table=True):
    """A scoped outbound connection an admin created; Nexus can reach nothing else."""

    __tablename__ = "integrations"  # pyright: ignore[reportAssignmentType]

    name: bytes | None = sealed("Integration name", max_length=120, required=True)
    kind: str = choice("Integration type", options=INTEGRATION_KINDS, default="webhook")
    destination: bytes | None = sealed(
        "Allowlisted destination URL", max_length=2000, required=True
    )
    scopes: list[str] | None = Field(
        default=None,
        sa_type=JSONB,
        description="What the integration may receive, e.g. deals:read",
        sa_column_kwargs={"info": {"public": "permission names, not user data"}},
    )
    secret: bytes | None = sealed("Signing secret", max_length=200)
    enabled: bool = Field(default=True)


class Conversation(TenantRow, table=True):
    """A chat with Nexus."""

    __tablename__ = "conversations"  # pyright: ignore[reportAssignmentType]

    title: bytes | None = sealed("Conversation title", max_length=200)
    member_id: uuid.UUID | None = reference("members", "Who started it")

    __table_args__ = (tenant_fk("member_id", "members"),)


class ChatMessage(TenantRow, table=True):
    """One stored message of a conversation (the server owns the history)."""

    __tablename__ = "chat_messages"  # pyright: ignore[reportAssignmentType]

    conversation_id: uuid.UUID = reference("conversations", "Conversation", required=True)
    role: str = choice("Who spoke", options=CHAT_ROLES, default="user")
    content: bytes | None = sealed("Message content", kind="json", max_length=200000)
    run_id: uuid.UUID | None = Field(default=None, description="Agent run that produced it")

    __table_args__ = (tenant_fk("conversation_id", "conversations", ondelete="CASCADE"),)


class Channel(TenantRow, table=True):
    """A Slack-style channel."""

    __tablename__ = "channels"  # pyright: ignore[reportAssignmentType]

    name: bytes | None = sealed("Channel name", max_length=80, required=True)
    slack_id: str = public_text(
        "Channel id as Slack clients see it", reason="an opaque identifier", max_length=32
    )
    is_private: bool = Field(default=False)
    # Set on a direct-message channel between this member and Nexus; only they can use it.
    dm_member_id: uuid.UUID | None = reference("members", "The member of a direct message")

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "slack_id"),
        tenant_fk("dm_member_id", "members", ondelete="CASCADE"),
        # One direct message per member, even when two requests open it at once.
        sa.Index(
            "uq_channels_tenant_id_dm_member_id",
            "tenant_id",
            "dm_member_id",
            unique=True,
            postgresql_where=sa.text("dm_member_id IS NOT NULL"),
        ),
    )


class Message(TenantRow, table=True):
    """A message in a channel, possibly in a thread."""

    __tablename__ = "messages"  # pyright: ignore[reportAssignmentType]

    channel_id: uuid.UUID = reference("channels", "Channel", required=True)
    ts: str = public_text("Slack-style timestamp id", reason="an opaque identifier", max_length=32)
    thread_ts: str | None = public_text(
        "Parent message ts when in a thread", reason="an opaque identifier", max_length=32
    )
    author: str = public_text(
        "Author id as Slack clients see it", reason="an opaque identifier", max_length=64
    )
    text: bytes | None = sealed("Message text", max_length=40000)
    # On a thread's first message once Nexus answers in it: the conversation that thread is.
    conversation_id: uuid.UUID | None = reference("conversations", "Nexus's conversation")

    __table_args__ = (
        tenant_fk("channel_id", "channels", ondelete="CASCADE"),
        tenant_fk("conversation_id", "conversations"),
        sa.UniqueConstraint("tenant_id", "channel_id", "ts"),
    )


def _credential(field: Any) -> Any:
    """Mark a column as a credential: it is kept out of the audit trail's images."""
    field.sa_column_kwargs["info"]["credential"] = True
    return field


class SlackInstall(TenantRow, table=True):
    """The Slack app an admin connected: which Slack workspace, and its bot token to answer."""

    __tablename__ = "slack_installs"  # pyright: ignore[reportAssignmentType]

    team_id: str = public_text(
        "Slack workspace id (T...)", reason="an opaque identifier", max_length=32
    )
    bot_token: bytes | None = _credential(
        sealed("The Slack app's bot token (xoxb-...)", max_length=500)
    )

    __table_args__ = (sa.UniqueConstraint("tenant_id"),)


class SlackUserLink(TenantRow, table=True):
    """Which member a Slack user is, as an admin said: Nexus acts for them with their role."""

    __tablename__ = "slack_user_links"  # pyright: ignore[reportAssignmentType]

    slack_user_id: str = public_text(
        "Slack user id (U...)", reason="an opaque identifier", max_length=32
    )
    member_id: uuid.UUID = reference("members", "The member", required=True)

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "slack_user_id"),
        tenant_fk("member_id", "members", ondelete="CASCADE"),
    )


class ApprovalRequest(TenantRow, table=True):
    """A paused destructive or egress tool call, bound to its exact arguments and a snapshot."""

    __tablename__ = "approval_requests"  # pyright: ignore[reportAssignmentType]

    conversation_id: uuid.UUID | None = reference("conversations", "Conversation")
    run_id: uuid.UUID = Field(description="Agent run")
    tool_call_id: str = public_text("Tool call id", reason="an opaque identifier", max_length=128)
    tool_name: str = public_text("Tool name", reason="names a tool of the catalog", max_length=128)
    args: bytes | None = sealed("Arguments of the call", kind="json", max_length=100000)
    args_hash: str = public_text("SHA-256 of the arguments", reason="a one-way hash", max_length=64)
    snapshot: bytes | None = sealed("Records the call touches", kind="json", max_length=200000)
    state: str = choice("Where the approval stands", options=APPROVAL_STATES, default="pending")
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    decided_by: uuid.UUID | None = reference("members", "Who approved or denied")
    decided_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # The first contact the call touches: its arguments and preview quote that person, so they
    # are sealed under the person's key and go with the person on erasure.
    record_type: str | None = choice("Kind of record this is about", options=RECORD_TYPES)
    record_id: uuid.UUID | None = Field(default=None, description="Id of the record this is about")

    __table_args__ = (
        tenant_fk("conversation_id", "conversations", ondelete="CASCADE"),
        tenant_fk("decided_by", "members"),
        sa.Index("ix_approval_requests_tenant_record", "tenant_id", "record_id"),
        sealed_under(KeyedBy.LINKED_CONTACT),
    )
