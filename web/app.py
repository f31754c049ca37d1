"""The FastAPI app factory. The store is built in the lifespan, never at import time."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from store.database import DatabaseUrls
from store.runtime import Store, key_provider_from
from store.settings import StoreSettings
from web.errors import install_error_handlers
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
            await store.close()

    app = FastAPI(
        title="FlowGrid",
        summary="The CRM small teams can trust, with Nexus, its AI assistant.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.web_settings = web_settings or WebSettings()
    install_error_handlers(app)

    @app.get("/healthz", tags=["ops"], summary="The database and the key provider answer")
    async def healthz(request: Request) -> dict[str, str]:
        store: Store = request.app.state.store
        await store.check_health()
        return {"status": "ok"}

    return app
