"""Settings the web layer owns."""

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    public_url: str = Field(
        default="http://localhost:8000",
        validation_alias=AliasChoices("FLOWGRID_PUBLIC_URL", "public_url"),
    )
