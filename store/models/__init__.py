"""Every table, registered on `SQLModel.metadata` by importing this package."""

from sqlmodel import SQLModel

from store.models.access import (
    ApiToken,
    AuthSession,
    AuthThrottle,
    Passkey,
    PlatformEvent,
    WebauthnChallenge,
)
from store.models.assistant import (
    ApprovalRequest,
    Channel,
    ChatMessage,
    Conversation,
    Integration,
    Message,
    SlackInstall,
    SlackUserLink,
)
from store.models.audit import AuditCheckpoint, AuditEvent, AuditHead, AuditSigningKey
from store.models.base import TENANT_KEY
from store.models.keys import DataKey, SearchToken, SubjectKey
from store.models.organize import CustomFieldDefinition, ListMembership, RecordList, Tag, Tagging
from store.models.people import Company, Contact, Member
from store.models.platform import Identity, Invite, SlackTeam, Tenant
from store.models.sales import Deal, LineItem, Pipeline, Product, Stage
from store.models.work import Activity, Note, Task, Ticket

metadata = SQLModel.metadata

PLATFORM_TABLES = frozenset(
    {
        "tenants",
        # which workspace a real Slack workspace's events belong to (store/services/slack_app.py)
        "slack_teams",
        "identities",
        "invites",
        # sign-in and access (store/models/access.py)
        "sessions",
        "passkeys",
        "webauthn_challenges",
        "auth_throttle",
    }
)


def tenant_tables() -> list[str]:
    """Every table that holds workspace data (it has a `tenant_id` column)."""
    return sorted(
        name
        for name, table in metadata.tables.items()
        if TENANT_KEY in table.columns and name not in PLATFORM_TABLES
    )


__all__ = [
    "PLATFORM_TABLES",
    "Activity",
    "ApiToken",
    "ApprovalRequest",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "AuditSigningKey",
    "AuthSession",
    "AuthThrottle",
    "Channel",
    "ChatMessage",
    "Company",
    "Contact",
    "Conversation",
    "CustomFieldDefinition",
    "DataKey",
    "Deal",
    "Identity",
    "Integration",
    "Invite",
    "LineItem",
    "ListMembership",
    "Member",
    "Message",
    "Note",
    "Passkey",
    "Pipeline",
    "PlatformEvent",
    "Product",
    "RecordList",
    "SearchToken",
    "SlackInstall",
    "SlackTeam",
    "SlackUserLink",
    "Stage",
    "SubjectKey",
    "Tag",
    "Tagging",
    "Task",
    "Tenant",
    "Ticket",
    "WebauthnChallenge",
    "metadata",
    "tenant_tables",
]
