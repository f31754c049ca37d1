"""The composition root of the storage layer: one per process (web app, CLI command, test)."""

from sqlalchemy import text

from store.crypto.fields import RecordSealer
from store.crypto.keyring import Keyring
from store.crypto.providers import AwsKmsProvider, KeyProvider, LocalKeyProvider
from store.database import DatabaseUrls
from store.errors import StoreUnavailable
from store.settings import StoreSettings
from store.tenancy import SessionFactory, create_app_engine


def key_provider_from(settings: StoreSettings) -> KeyProvider:
    if settings.kms == "aws":
        return AwsKmsProvider(endpoint_url=settings.kms_endpoint)
    return LocalKeyProvider(settings.keystore_dir, database_dir=settings.pg_dir)


class Store:
    """Engine, keys and sessions for the app role. Close it when the process is done."""

    def __init__(
        self,
        urls: DatabaseUrls,
        provider: KeyProvider,
        *,
        pool_size: int = 10,
        keyring: Keyring | None = None,
    ) -> None:
        """`keyring` replaces the default one (max age 300 s), e.g. to inject a clock in tests."""
        if keyring is not None and keyring.provider is not provider:
            raise ValueError("the keyring must use the store's key provider")
        self.urls = urls
        self.provider = provider
        self.keyring = keyring or Keyring(provider)
        self.sealer = RecordSealer(self.keyring)
        self.engine = create_app_engine(urls.app, pool_size=pool_size)
        self.sessions = SessionFactory(self.engine, self.sealer)
        self.tenant_session = self.sessions.tenant_session
        self.dangerously_unscoped_session = self.sessions.dangerously_unscoped_session

    async def check_health(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any driver failure means the same thing to a health check
            raise StoreUnavailable(f"database check failed: {type(exc).__name__}") from None
        self.provider.check_health()

    async def close(self) -> None:
        await self.engine.dispose()
