"""Integrations: the only way workspace data leaves FlowGrid, each one created by an admin.

An integration is a webhook with one allowlisted destination URL, scopes naming what it may
receive (`deals:read`, `contacts:read`, ...) and its own signing secret, sealed like any other
value. This module keeps the rules (who may create one, which scopes exist, what a request may
carry); the HTTP request itself is made by `tools/egress.py`, the one place with a network client.
"""

import ipaddress
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from store.entities import ENTITIES, Entity
from store.errors import Forbidden, InvalidInput
from store.models import Integration
from store.services import records
from store.services.access import require_role
from store.tenancy import TenantSession

INTEGRATION = Entity("integration", "integrations", Integration)
SCOPES = tuple(f"{e.plural}:read" for e in ENTITIES)
MAX_RECORDS_PER_CALL = 20


@dataclass(frozen=True)
class Destination:
    """Where an integration sends: scheme, host and port are fixed; the path may extend."""

    url: str
    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> "Destination":
        parts = urlsplit(url.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise InvalidInput("destination must be an https:// URL")
        if parts.username or parts.password:
            raise InvalidInput("destination must not carry credentials; use the signing secret")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise InvalidInput("destination must use https (plain http only to this machine)")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(url.strip(), parts.scheme, parts.hostname.lower(), port)

    def allows(self, url: str) -> bool:
        """True when `url` goes to exactly this scheme, host and port."""
        parts = urlsplit(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return False
        return (
            parts.scheme == self.scheme
            and (parts.hostname or "").lower() == self.host
            and port == self.port
            and not parts.username
            and not parts.password
        )


@dataclass(frozen=True)
class OutboundCall:
    """Everything needed to make one approved request, read inside the tenant session."""

    integration_id: uuid.UUID
    name: str
    destination: Destination
    secret: str
    payload: dict[str, Any]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def create_integration(
    ts: TenantSession,
    *,
    name: str,
    destination: str,
    scopes: list[str],
    secret: str | None = None,
) -> tuple[dict[str, Any], str]:
    """A new integration (admins and owners only). Returns it and its secret, shown once."""
    require_role(ts, "admin", to="create integrations")
    Destination.parse(destination)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidInput(f"scopes must be a non-empty subset of {', '.join(SCOPES)}")
    secret = secret or secrets.token_urlsafe(32)
    if len(secret) < 16:
        raise InvalidInput("a signing secret needs at least 16 characters")
    created = await records.create_record(
        ts,
        INTEGRATION,
        {"name": name, "destination": destination, "scopes": sorted(set(scopes)), "secret": secret},
    )
    return _public(created), secret


async def list_integrations(ts: TenantSession) -> list[dict[str, Any]]:
    """Integrations of the workspace, without their secrets."""
    page = await records.list_records(ts, INTEGRATION, limit=records.MAX_LIMIT, sort="created_at")
    return [_public(item) for item in page.items]


async def covered_entities(ts: TenantSession) -> list[str]:
    """Plural names of the entities some enabled integration may receive."""
    covered: set[str] = set()
    for item in await list_integrations(ts):
        if item["enabled"]:
            covered.update(s.removesuffix(":read") for s in item["scopes"] or [])
    return sorted(covered)


async def prepare_call(
    ts: TenantSession,
    integration_id: uuid.UUID,
    *,
    entity: Entity,
    record_ids: list[uuid.UUID],
    message: str | None,
) -> OutboundCall:
    """Check the integration may receive these records, and build the payload it would get."""
    require_role(ts, "member", to="send data to integrations")
    found: Any = await records.get_record(ts, INTEGRATION, integration_id)
    if not found.enabled:
        raise Forbidden(f"integration {integration_id} is disabled")
    scope = f"{entity.plural}:read"
    if scope not in (found.scopes or []):
        raise Forbidden(f"integration {found.name!r} has no {scope} scope")
    ids = list(dict.fromkeys(record_ids))
    if not 1 <= len(ids) <= MAX_RECORDS_PER_CALL:
        raise InvalidInput(f"send 1 to {MAX_RECORDS_PER_CALL} records per call")
    items = [(await records.get_record(ts, entity, i)).model_dump(mode="json") for i in ids]
    payload = {"event": "flowgrid.records", "entity": entity.plural, "records": items}
    if message:
        payload["message"] = message
    return OutboundCall(
        integration_id=integration_id,
        name=found.name,
        destination=Destination.parse(found.destination),
        secret=found.secret,
        payload=payload,
    )


def _public(item: BaseModel) -> dict[str, Any]:
    """The integration as anyone may see it: no secret."""
    return item.model_dump(exclude={"secret"})
