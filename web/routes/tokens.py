"""`/api/tokens`: API and bot tokens of the workspace; the secret is shown once, at creation."""

import uuid
from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import Field

from store.auth import api_tokens
from store.errors import Forbidden
from store.services.access import has_role
from store.tenancy import Role
from web.deps import CurrentPrincipal, Now, Viewer
from web.routes.schemas import Strict, errors

router = APIRouter(tags=["API tokens"])


class TokenIn(Strict):
    name: str = Field(max_length=120)
    role: Role | None = Field(default=None, description="At most your role; default: yours")
    kind: str = Field(default="api", description="api, or bot for the Slack-style API")


class TokenOut(Strict):
    id: uuid.UUID
    member_id: uuid.UUID
    name: str
    role: str
    kind: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="Shown once: store it now, it cannot be shown again")


def _people_only(principal: CurrentPrincipal) -> None:
    # A token minting tokens would outlive its own revocation.
    if principal.credential != "session":
        raise Forbidden("API tokens cannot manage API tokens; sign in.")


@router.get(
    "/api/tokens",
    summary="API tokens",
    description="Yours; admins see every token of the workspace. Never the secrets.",
    responses=errors(401, 403),
)
async def list_tokens(ts: Viewer, principal: CurrentPrincipal) -> list[TokenOut]:
    mine = None if has_role(ts, "admin") else principal.member_id
    return [TokenOut(**t.__dict__) for t in await api_tokens.list_tokens(ts, member_id=mine)]


@router.post(
    "/api/tokens",
    summary="Create an API token for yourself",
    status_code=201,
    responses=errors(401, 403, 422),
)
async def create_token(
    body: TokenIn, ts: Viewer, principal: CurrentPrincipal, now: Now
) -> TokenCreatedOut:
    _people_only(principal)
    assert principal.member_id is not None
    issued = await api_tokens.issue_token(
        ts, member_id=principal.member_id, name=body.name, role=body.role, kind=body.kind, now=now
    )
    return TokenCreatedOut(
        id=issued.id,
        member_id=issued.member_id,
        name=issued.name,
        role=issued.role,
        kind=issued.kind,
        created_at=issued.created_at,
        token=issued.token,
    )


@router.delete(
    "/api/tokens/{token_id}",
    summary="Revoke an API token",
    description="Your own, or any of the workspace as an admin. Takes effect at once.",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403, 404),
)
async def revoke_token(
    token_id: uuid.UUID, ts: Viewer, principal: CurrentPrincipal, now: Now
) -> Response:
    _people_only(principal)
    await api_tokens.revoke_token(ts, token_id, member_id=principal.member_id, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
