"""Settings for the storage layer, read from the environment at the composition root."""

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("flowgrid", appauthor=False))


class StoreSettings(BaseSettings):
    """Where the data lives and who holds the keys.

    Built by the CLI, the web app factory and the test fixtures, never at import time.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "database_url")
    )
    app_database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("FLOWGRID_APP_DATABASE_URL", "app_database_url"),
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        validation_alias=AliasChoices("FLOWGRID_DATA_DIR", "data_dir"),
    )
    kms: Literal["local", "aws"] = Field(
        default="local", validation_alias=AliasChoices("FLOWGRID_KMS", "kms")
    )
    kms_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("FLOWGRID_KMS_ENDPOINT", "kms_endpoint")
    )

    @property
    def pg_dir(self) -> Path:
        return self.data_dir / "pg"

    @property
    def keystore_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"
