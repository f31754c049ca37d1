"""Real Slack connected to a workspace: the app an admin installed, and who its users are.

An admin binds one Slack workspace to this workspace with the Slack app's bot token (sealed;
Nexus answers in Slack with it); the web layer asks Slack which workspace the token belongs to
(`auth.test`), so nobody can claim a Slack workspace they hold no token of. Admins also link
Slack users to members. Only linked users
reach Nexus, with their member's role: FlowGrid never guesses who a Slack user is (an email in
a Slack profile is not proof). The binding lives in a platform table, `slack_teams`, because an
incoming event names its Slack workspace before FlowGrid knows which workspace it is for.
"""

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from store.entities import Entity
from store.errors import Conflict, InvalidInput, NotFound
from store.models import Member, SlackInstall, SlackTeam, SlackUserLink
from store.runtime import Store
from store.services.access import require_role
from store.services.sealed_rows import insert_sealed
from store.tenancy import Role, TenantSession

INSTALL = Entity("slack_install", "slack_installs", SlackInstall)
LINK = Entity("slack_user_link", "slack_user_links", SlackUserLink)
_teams = SlackTeam.__table__  # pyright: ignore[reportAttributeAccessIssue]
_members = Member.__table__  # pyright: ignore[reportAttributeAccessIssue]
_TEAM = re.compile(r"T[A-Z0-9]{2,30}", re.ASCII)
_USER = re.compile(r"[UW][A-Z0-9]{2,30}", re.ASCII)


@dataclass(frozen=True)
class Installed:
    team_id: str
    bot_token: str = field(repr=False)


def check_bot_token(bot_token: str) -> str:
    token = bot_token.strip()
    if not token.startswith("xoxb-") or len(token) > 500:
        raise InvalidInput("bot_token: the Slack app's bot token (xoxb-...)")
    return token


async def install(ts: TenantSession, *, team_id: str, bot_token: str) -> dict[str, Any]:
    """Connect the Slack workspace `team_id` (as Slack named it for this token; admins).

    Replaces an earlier connection of this workspace; a Slack workspace connected to another
    workspace is a Conflict.
    """
    require_role(ts, "admin", to="connect Slack")
    if not _TEAM.fullmatch(team_id):
        raise InvalidInput("team_id: a Slack workspace id, like T0123ABCD")
    bot_token = check_bot_token(bot_token)
    bound = (
        await ts.db.execute(sa.select(_teams.c.tenant_id).where(_teams.c.team_id == team_id))
    ).scalar_one_or_none()
    if bound is not None and bound != ts.tenant_id:
        raise Conflict("this Slack workspace is connected to another FlowGrid workspace")
    await uninstall(ts)
    await ts.db.execute(insert(_teams).values(team_id=team_id, tenant_id=ts.tenant_id))
    values = {"team_id": team_id, "bot_token": bot_token}
    await insert_sealed(ts, INSTALL, uuid.uuid4(), values)
    return {"team_id": team_id}


async def uninstall(ts: TenantSession) -> None:
    """Disconnect Slack (admins): events from it are ignored from now on."""
    require_role(ts, "admin", to="disconnect Slack")
    await ts.db.execute(sa.delete(_teams).where(_teams.c.tenant_id == ts.tenant_id))
    await ts.db.execute(sa.delete(INSTALL.table).where(INSTALL.table.c.tenant_id == ts.tenant_id))


async def installed(ts: TenantSession) -> Installed | None:
    rows = await ts.db.execute(
        sa.select(INSTALL.table).where(INSTALL.table.c.tenant_id == ts.tenant_id)
    )
    opened = await ts.sealer.open_rows(ts, INSTALL, [dict(r._mapping) for r in rows])
    if not opened:
        return None
    row = opened[0]
    return Installed(row["team_id"], row["bot_token"] or "")


async def link_user(ts: TenantSession, slack_user_id: str, member_id: uuid.UUID) -> None:
    """Say which member a Slack user is (admins); replaces an earlier link of that user."""
    require_role(ts, "admin", to="link Slack users")
    if not _USER.fullmatch(slack_user_id):
        raise InvalidInput("slack_user_id: a Slack user id, like U0123ABCD")
    member = (
        await ts.db.execute(
            sa.select(_members.c.id).where(
                _members.c.tenant_id == ts.tenant_id, _members.c.id == member_id
            )
        )
    ).scalar_one_or_none()
    if member is None:
        raise NotFound("member", member_id)
    await unlink_user(ts, slack_user_id)
    values = {"slack_user_id": slack_user_id, "member_id": member_id}
    await insert_sealed(ts, LINK, uuid.uuid4(), values)


async def unlink_user(ts: TenantSession, slack_user_id: str) -> None:
    require_role(ts, "admin", to="unlink Slack users")
    await ts.db.execute(
        sa.delete(LINK.table).where(
            LINK.table.c.tenant_id == ts.tenant_id, LINK.table.c.slack_user_id == slack_user_id
        )
    )


async def member_for(ts: TenantSession, slack_user_id: str) -> tuple[uuid.UUID, Role] | None:
    """The linked member of a Slack user and their current role, or None."""
    row = (
        await ts.db.execute(
            sa.select(_members.c.id, _members.c.role)
            .join(
                LINK.table,
                sa.and_(
                    LINK.table.c.tenant_id == _members.c.tenant_id,
                    LINK.table.c.member_id == _members.c.id,
                ),
            )
            .where(
                LINK.table.c.tenant_id == ts.tenant_id,
                LINK.table.c.slack_user_id == slack_user_id,
            )
        )
    ).one_or_none()
    return (row.id, row.role) if row else None


async def workspace_of(store: Store, team_id: str) -> uuid.UUID | None:
    """The workspace a Slack workspace is connected to (read before any workspace is known)."""
    async with store.dangerously_unscoped_session() as db:
        return (
            await db.execute(sa.select(_teams.c.tenant_id).where(_teams.c.team_id == team_id))
        ).scalar_one_or_none()
