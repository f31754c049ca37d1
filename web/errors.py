"""One table maps domain errors to HTTP; every error body is `{"error": code, "detail": text}`."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from store.errors import (
    Conflict,
    DecryptionFailed,
    DomainError,
    Forbidden,
    InvalidInput,
    KeyUnavailable,
    MalformedCursor,
    NotFound,
    StoreUnavailable,
    Throttled,
    Unauthenticated,
    WorkspaceRetired,
)

logger = logging.getLogger("flowgrid.web")

STATUS_FOR: dict[type[DomainError], int] = {
    NotFound: 404,
    Conflict: 409,
    Unauthenticated: 401,
    Throttled: 429,
    MalformedCursor: 400,  # INTERFACE.md: a malformed cursor is a 400, other bad input a 422
    Forbidden: 403,
    InvalidInput: 422,
    WorkspaceRetired: 410,
    KeyUnavailable: 503,
    StoreUnavailable: 503,
    DecryptionFailed: 500,
}


# The Slack-style API answers `{"ok": false, "error": code}` with Slack's codes (web/routes/slack.py).
SLACK_CODE_FOR: dict[type[DomainError], str] = {
    Unauthenticated: "invalid_auth",
    Forbidden: "account_inactive",  # no longer a member of the workspace
    WorkspaceRetired: "account_inactive",
    MalformedCursor: "invalid_cursor",
    InvalidInput: "invalid_arguments",
    NotFound: "not_found",
    Conflict: "conflict",
    Throttled: "ratelimited",
    KeyUnavailable: "service_unavailable",
    StoreUnavailable: "service_unavailable",
}


def slack_code(exc: DomainError) -> str:
    for cls in type(exc).__mro__:
        if cls in SLACK_CODE_FOR:
            return SLACK_CODE_FOR[cls]  # pyright: ignore[reportArgumentType]
    return "fatal_error"


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"error": code, "detail": detail}


def status_for(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_FOR:
            return STATUS_FOR[cls]  # pyright: ignore[reportArgumentType]
    return 400


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        headers = (
            {"Retry-After": "5"} if isinstance(exc, KeyUnavailable | StoreUnavailable) else None
        )
        if isinstance(exc, Throttled):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(error_body(exc.code, exc.detail), status_for(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        return JSONResponse(error_body("invalid_input", f"{where}: {first['msg']}"), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("internal", "something went wrong on our side"), 500)
