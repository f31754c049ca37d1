"""Request dependencies: the store, the clock, who is asking, and their tenant session.

- `CurrentPrincipal` resolves `Authorization: Bearer <api token>` first, else the session cookie.
  A cookie-authenticated state-changing request must carry the session's `X-CSRF-Token`
  (bearer requests are exempt: a browser never attaches that header by itself).
- `workspace(minimum)` opens the per-request tenant session with the member's current role and
  refuses the request below `minimum` before the body is even parsed; it commits when the route
  returns, before the response is sent (`scope="function"`), and rolls back on any error.
- `PlatformAdmin` admits only a platform admin's passkey session with user verification.
"""

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from store.auth import api_tokens, signin
from store.auth.principals import Principal, workspace_session
from store.auth.sessions import SessionPolicy, csrf_matches
from store.auth.signin import Attempt
from store.errors import Forbidden, Unauthenticated
from store.runtime import Store
from store.services.access import require_role
from store.tenancy import Role, TenantSession
from web.security import CSRF_HEADER, SAFE_METHODS, settings_of
from web.settings import WebSettings

NOT_SIGNED_IN = "Sign in first (session cookie or Authorization: Bearer <api token>)."


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_settings(request: Request) -> WebSettings:
    return settings_of(request)


def now(request: Request) -> datetime:
    """The app's clock (tests may replace `app.state.clock`)."""
    clock: Callable[[], datetime] = getattr(request.app.state, "clock", lambda: datetime.now(UTC))
    return clock()


def session_policy(request: Request) -> SessionPolicy:
    return getattr(request.app.state, "session_policy", None) or SessionPolicy()


def session_cookie(request: Request) -> str | None:
    return request.cookies.get(settings_of(request).session_cookie) or None


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def attempt(request: Request) -> Attempt:
    """A sign-in attempt from this request: time, policy, address, the session it replaces."""
    return Attempt(
        now=now(request),
        policy=session_policy(request),
        address=client_address(request),
        replaces=session_cookie(request),
    )


async def optional_principal(request: Request) -> Principal | None:
    """The caller, or None when the request carries no valid credential."""
    store = get_store(request)
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        # A bad bearer token is an error, never a fall-back to the cookie.
        return await api_tokens.resolve_token(store, authorization[7:], now=now(request))
    token = session_cookie(request)
    if token is None:
        return None
    principal = await signin.session_for_cookie(
        store, token, now=now(request), policy=session_policy(request)
    )
    if principal is None:
        return None
    if request.method not in SAFE_METHODS and not csrf_matches(
        token, request.headers.get(CSRF_HEADER)
    ):
        raise Forbidden(
            f"missing or wrong {CSRF_HEADER} header; it comes with sign-in and GET /api/me"
        )
    return principal


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthenticated(NOT_SIGNED_IN)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[WebSettings, Depends(get_settings)]
Now = Annotated[datetime, Depends(now)]
AttemptDep = Annotated[Attempt, Depends(attempt)]


def workspace(minimum: Role) -> Any:
    """A dependency yielding the request's tenant session, for members of at least `minimum`."""

    async def open_session(
        request: Request, principal: CurrentPrincipal
    ) -> AsyncIterator[TenantSession]:
        if principal.is_platform_admin:
            raise Forbidden("Platform admins cannot read or change workspace records.")
        async with workspace_session(get_store(request), principal) as ts:
            require_role(ts, minimum, to=f"{request.method} {request.url.path}")
            yield ts

    return Depends(open_session, scope="function")


def platform_admin(principal: CurrentPrincipal) -> Principal:
    """A platform admin signed in with a user-verified passkey, nothing less."""
    if not (
        principal.is_platform_admin
        and principal.credential == "session"
        and principal.auth_method == "passkey"
        and principal.user_verified
    ):
        raise Forbidden("This is the platform console; it needs a platform admin's passkey.")
    return principal


PlatformAdmin = Annotated[Principal, Depends(platform_admin)]
Viewer = Annotated[TenantSession, workspace("viewer")]
MemberSession = Annotated[TenantSession, workspace("member")]
AdminSession = Annotated[TenantSession, workspace("admin")]
OwnerSession = Annotated[TenantSession, workspace("owner")]
