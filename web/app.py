"""The FastAPI app factory. The store is built in the lifespan, never at import time."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles

from store.database import DatabaseUrls
from store.runtime import Store, key_provider_from
from store.settings import StoreSettings
from web.errors import install_error_handlers
from web.routes import (
    app_pages,
    audit,
    auth,
    chat,
    custom_fields,
    gdpr,
    members,
    pages,
    platform,
    records,
    slack,
    slack_events,
    slack_setup,
    tokens,
)
from web.security import require_same_origin
from web.settings import WebSettings


def create_app(
    *, urls: DatabaseUrls, store_settings: StoreSettings, web_settings: WebSettings | None = None
) -> FastAPI:
    """An app serving one database (already migrated) with the configured key provider."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(urls, key_provider_from(store_settings))
        app.state.store = store
        try:
            yield
        finally:
            events = getattr(app.state, "slack_event_tasks", None)
            if events:  # Slack events being handed to Nexus
                await asyncio.gather(*list(events), return_exceptions=True)
            relay = getattr(app.state, "slack", None)
            if relay is not None:  # answers still being written into threads
                await relay.drain()
            chat_service = getattr(app.state, "chat", None)
            if chat_service is not None:  # let running chat turns finish their tool calls
                await chat_service.drain()
            await store.close()

    app = FastAPI(
        title="FlowGrid",
        summary="The CRM small teams can trust, with Nexus, its AI assistant.",
        version="0.1.0",
        lifespan=lifespan,
        # Every route, present and future: cross-origin state changes are refused (web/security.py).
        dependencies=[Depends(require_same_origin)],
    )
    app.state.web_settings = web_settings or WebSettings()
    install_error_handlers(app)

    @app.get("/healthz", tags=["ops"], summary="The database and the key provider answer")
    async def healthz(request: Request) -> dict[str, str]:
        store: Store = request.app.state.store
        await store.check_health()
        return {"status": "ok"}

    # Sign-in and access (web/routes/): auth first, so its fixed paths win over patterns.
    for module in (auth, members, tokens, custom_fields, audit, gdpr, records, platform, pages):
        app.include_router(module.router)
    # Nexus in the browser (web/routes/chat.py) and in Slack-style channels (web/routes/slack.py).
    app.include_router(chat.router)
    app.include_router(slack.router)
    app.include_router(slack_events.router)
    app.include_router(slack_setup.router)
    app.include_router(app_pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    return app
