"""Browser-facing defences: the origin check, the session cookie, and the security headers.

CSRF has two layers (OWASP's synchronizer token plus origin verification):

1. `require_same_origin`, an app-wide dependency: a state-changing request that carries our
   session cookie, or that goes to one of the sign-in routes (`ORIGIN_CHECKED_PATHS`, which a
   cross-site page could use for login CSRF), must come with an `Origin` (or, without one, a
   `Referer`) equal to FLOWGRID_PUBLIC_URL's origin. Requests with `Authorization: Bearer` are
   exempt: a browser never attaches that header on its own.
2. `web.deps` checks `X-CSRF-Token` whenever a cookie session authenticates a state-changing
   request. The token is an HMAC of the session's secret, returned by sign-in and `GET /api/me`.

SameSite=Lax on the cookie is a third, defence-in-depth layer, not relied on.
"""

from urllib.parse import urlsplit

from fastapi import Request, Response

from store.auth.sessions import NewSession
from store.errors import Forbidden
from web.settings import WebSettings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"

# Unauthenticated routes that change state; they still require our own origin.
ORIGIN_CHECKED_PATHS = frozenset(
    {
        "/api/auth/login",
        "/api/auth/logout",
        "/api/auth/invite/accept",
        "/api/auth/passkey/register/options",
        "/api/auth/passkey/register/verify",
        "/api/auth/passkey/login/options",
        "/api/auth/passkey/login/verify",
    }
)

# Pages: no inline script or style, nothing from elsewhere, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def settings_of(request: Request) -> WebSettings:
    return request.app.state.web_settings


def has_bearer(request: Request) -> bool:
    return request.headers.get("authorization", "").lower().startswith("bearer ")


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def request_origin(request: Request) -> str | None:
    """The Origin header, else the origin of the Referer, else None."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return origin.rstrip("/").lower()
    referer = request.headers.get("referer")
    return _origin_of(referer) if referer else None


async def require_same_origin(request: Request) -> None:
    """App-wide: refuse cross-origin state changes that a browser could be tricked into."""
    if request.method in SAFE_METHODS or has_bearer(request):
        return
    settings = settings_of(request)
    if settings.session_cookie not in request.cookies and (
        request.url.path not in ORIGIN_CHECKED_PATHS
    ):
        return
    origin = request_origin(request)
    if origin != settings.public_origin:
        raise Forbidden(
            f"cross-origin request refused: send it from {settings.public_origin} "
            "(Origin or Referer header)"
        )


def set_session_cookie(response: Response, settings: WebSettings, session: NewSession) -> None:
    """HttpOnly, SameSite=Lax, Path=/, no Domain; Secure (and `__Host-`) on https.

    No Max-Age: the server enforces the timeouts; the cookie dies with the browser session or
    when the server says so, whichever comes first.
    """
    response.set_cookie(
        settings.session_cookie,
        session.token,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


def clear_session_cookie(response: Response, settings: WebSettings) -> None:
    response.delete_cookie(
        settings.session_cookie,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


def page_headers(response: Response) -> None:
    """Headers every HTML page gets."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    # Invite links carry their token in the query; it must not leak to other sites.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
