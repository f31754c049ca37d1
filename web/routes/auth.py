"""Sign-in routes: password, invites, passkeys, sign-out, and who am I."""

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import Field

from store.auth import passkeys, signin
from store.auth.sessions import csrf_token_for
from store.runtime import Store
from web.deps import (
    AttemptDep,
    CurrentPrincipal,
    Now,
    OptionalPrincipal,
    SettingsDep,
    StoreDep,
    session_cookie,
)
from web.routes.schemas import MeOut, Strict, errors, me_out
from web.security import clear_session_cookie, set_session_cookie
from web.settings import WebSettings

router = APIRouter(tags=["sign-in"])


class LoginIn(Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=4096)
    workspace_id: uuid.UUID | None = Field(
        default=None, description="Workspace to open; default: the one used last"
    )


class InviteAcceptIn(Strict):
    token: str = Field(max_length=200)
    password: str | None = Field(
        default=None,
        max_length=4096,
        description="Set this password (10+ characters); omit to continue with a passkey",
    )


class InviteOut(Strict):
    """An invite not used yet: register a passkey with it, or accept it with a password."""

    email: str
    workspace_id: uuid.UUID | None
    workspace_name: str | None
    role: str | None
    platform_admin: bool
    has_credentials: bool = Field(description="The account can already sign in")
    expires_at: datetime


class RegisterOptionsIn(Strict):
    invite_token: str | None = Field(
        default=None, max_length=200, description="Enroll through an invite instead of a session"
    )


class CredentialIn(Strict):
    credential: dict[str, Any] = Field(description="PublicKeyCredential.toJSON() of the browser")
    workspace_id: uuid.UUID | None = Field(
        default=None, description="Sign-in only: the workspace to open"
    )


class PasskeyOut(Strict):
    id: uuid.UUID
    aaguid: str
    backup_eligible: bool
    backed_up: bool
    created_at: datetime
    last_used_at: datetime | None
    flagged_at: datetime | None


def _rp(settings: WebSettings) -> passkeys.RelyingParty:
    return passkeys.RelyingParty.from_public_url(settings.public_url)


async def _signed_in(
    store: Store, response: Response, settings: WebSettings, done: signin.SignedIn
) -> MeOut:
    set_session_cookie(response, settings, done.session)
    me = await signin.describe(store, done.principal)
    return me_out(me, done.session.csrf_token)


@router.post(
    "/api/auth/login",
    summary="Sign in with email and password",
    description="Sets the session cookie and returns the CSRF token. An unknown email and a "
    "wrong password get the same answer, byte for byte. Too many failures per account or per "
    "address answer 429 with Retry-After.",
    responses=errors(401, 403, 410, 422, 429),
)
async def login(
    body: LoginIn, response: Response, store: StoreDep, settings: SettingsDep, attempt: AttemptDep
) -> MeOut:
    done = await signin.login_with_password(
        store, body.email, body.password, attempt, workspace_id=body.workspace_id
    )
    return await _signed_in(store, response, settings, done)


@router.post(
    "/api/auth/logout",
    summary="Sign out",
    description="Revokes the session on the server and clears the cookie.",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(403),
)
async def logout(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    now: Now,
    principal: OptionalPrincipal,  # a live cookie session must show its CSRF token
) -> Response:
    del principal
    await signin.logout(store, session_cookie(request), now)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response, settings)
    return response


@router.post(
    "/api/auth/invite/accept",
    summary="Look at or accept an invite",
    description="With `password`: set the account's first password, use the invite and sign in "
    "(answers like login). Without: describe the invite so the page can offer a passkey; the "
    "invite is then used by passkey registration.",
    responses=errors(401, 403, 409, 422),
)
async def accept_invite(
    body: InviteAcceptIn,
    response: Response,
    store: StoreDep,
    settings: SettingsDep,
    attempt: AttemptDep,
) -> MeOut | InviteOut:
    if body.password is None:
        view = await signin.inspect_invite(store, body.token, attempt.now)
        return InviteOut(**view.__dict__)
    done = await signin.accept_invite_with_password(store, body.token, body.password, attempt)
    return await _signed_in(store, response, settings, done)


@router.post(
    "/api/auth/passkey/register/options",
    summary="Start registering a passkey",
    description="For the signed-in person, or for an invite's account (`invite_token`). "
    "Returns PublicKeyCredentialCreationOptions as JSON; user verification is required.",
    responses=errors(401, 403, 409),
)
async def passkey_register_options(
    body: RegisterOptionsIn,
    store: StoreDep,
    settings: SettingsDep,
    now: Now,
    principal: OptionalPrincipal,
) -> dict[str, Any]:
    return await signin.passkey_registration_options(
        store, _rp(settings), principal=principal, invite_token=body.invite_token, now=now
    )


@router.post(
    "/api/auth/passkey/register/verify",
    summary="Finish registering a passkey",
    description="Verifies the attestation against the stored, single-use challenge. Through an "
    "invite this also uses the invite and signs in (answers like login); otherwise it answers "
    "the new passkey.",
    responses=errors(401, 403, 409, 422),
)
async def passkey_register_verify(
    body: CredentialIn,
    response: Response,
    store: StoreDep,
    settings: SettingsDep,
    attempt: AttemptDep,
    principal: OptionalPrincipal,
) -> MeOut | PasskeyOut:
    passkey_id, done = await signin.passkey_registration_verify(
        store, _rp(settings), body.credential, attempt, principal=principal
    )
    if done is not None:
        return await _signed_in(store, response, settings, done)
    assert principal is not None  # a registration without an invite needs a session
    mine = await signin.my_passkeys(store, principal.identity_id)
    return PasskeyOut(**next(p for p in mine if p.id == passkey_id).__dict__)


@router.post(
    "/api/auth/passkey/login/options",
    summary="Start signing in with a passkey",
    description="Returns PublicKeyCredentialRequestOptions (discoverable credentials, user "
    "verification required); the challenge is stored and expires after 5 minutes.",
    responses=errors(403),
)
async def passkey_login_options(store: StoreDep, settings: SettingsDep, now: Now) -> dict[str, Any]:
    return await signin.passkey_login_options(store, _rp(settings), now)


@router.post(
    "/api/auth/passkey/login/verify",
    summary="Finish signing in with a passkey",
    description="Consumes the challenge, verifies the assertion (user verification required, "
    "sign count must grow when counted) and sets the session cookie.",
    responses=errors(401, 403, 410, 429),
)
async def passkey_login_verify(
    body: CredentialIn,
    response: Response,
    store: StoreDep,
    settings: SettingsDep,
    attempt: AttemptDep,
) -> MeOut:
    done = await signin.login_with_passkey(
        store, _rp(settings), body.credential, attempt, workspace_id=body.workspace_id
    )
    return await _signed_in(store, response, settings, done)


@router.get(
    "/api/auth/passkeys",
    summary="My passkeys",
    responses=errors(401),
)
async def my_passkeys(principal: CurrentPrincipal, store: StoreDep) -> list[PasskeyOut]:
    return [
        PasskeyOut(**p.__dict__) for p in await signin.my_passkeys(store, principal.identity_id)
    ]


@router.delete(
    "/api/auth/passkeys/{passkey_id}",
    summary="Remove one of my passkeys",
    description="The last passkey of an account without a password cannot be removed.",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403, 404),
)
async def remove_passkey(
    passkey_id: uuid.UUID, principal: CurrentPrincipal, store: StoreDep
) -> Response:
    await signin.remove_my_passkey(store, principal, passkey_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/api/me",
    summary="Who am I",
    description="The signed-in person, their workspace and current role, and the CSRF token "
    "for state-changing requests (null with an API token).",
    tags=["sign-in"],
    responses=errors(401, 403, 410),
)
async def me(request: Request, principal: CurrentPrincipal, store: StoreDep) -> MeOut:
    described = await signin.describe(store, principal)
    cookie = session_cookie(request) if principal.credential == "session" else None
    return me_out(described, csrf_token_for(cookie) if cookie else None)
