"""Fixtures for the tool tests: no real model ever, a fresh workspace per test, a scripted Nexus."""

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pydantic_ai.models
import pytest
from sqlalchemy import text

from store.runtime import Store
from tests.conftest import MakeWorkspace
from tests.tools.support import TEST_ACTOR, Clock, Nexus


@pytest.fixture(autouse=True)
def no_model_requests() -> Iterator[None]:
    """A test that reaches a real model provider fails instead of calling it."""
    previous = pydantic_ai.models.ALLOW_MODEL_REQUESTS
    pydantic_ai.models.ALLOW_MODEL_REQUESTS = False
    try:
        yield
    finally:
        pydantic_ai.models.ALLOW_MODEL_REQUESTS = previous


class NetworkLog:
    """Python-level network use (connects and name lookups), recorded while a test runs.

    PostgreSQL is reached through libpq, below Python, so a tool test that opens no socket of
    its own records nothing; only tests marked `egress` may.
    """

    def __init__(self) -> None:
        self.recording = False
        self.events: list[tuple[str, Any]] = []

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self.recording and event in ("socket.connect", "socket.getaddrinfo"):
            self.events.append((event, args[1] if event == "socket.connect" else args[:2]))


NETWORK = NetworkLog()
sys.addaudithook(NETWORK.hook)


@pytest.fixture(autouse=True)
def no_network_unless_egress(request: pytest.FixtureRequest) -> Iterator[NetworkLog]:
    """Every tool test proves, in passing, that its tools reached no network."""
    NETWORK.events.clear()
    NETWORK.recording = True
    try:
        yield NETWORK
    finally:
        NETWORK.recording = False
    if request.node.get_closest_marker("egress") is None:
        assert NETWORK.events == [], f"a tool reached the network: {NETWORK.events}"


@dataclass(frozen=True)
class Workspace:
    tenant: uuid.UUID
    owner_id: uuid.UUID


async def owner_of(store: Store, tenant: uuid.UUID) -> uuid.UUID:
    async with store.tenant_session(tenant, TEST_ACTOR) as ts:
        return (
            await ts.db.execute(
                text("SELECT id FROM members WHERE tenant_id = :t AND role = 'owner'"),
                {"t": tenant},
            )
        ).scalar_one()


@pytest.fixture
async def workspace(store: Store, make_workspace: MakeWorkspace) -> Workspace:
    tenant = await make_workspace()
    return Workspace(tenant, await owner_of(store, tenant))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def nexus(store: Store, workspace: Workspace, clock: Clock) -> Nexus:
    """Nexus acting for the workspace's owner."""
    return Nexus(store, workspace.tenant, role="owner", member_id=workspace.owner_id, clock=clock)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "egress: the test lets call_integration reach a local HTTP server"
    )
