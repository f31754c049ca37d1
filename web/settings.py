"""Settings the web layer owns."""

from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    public_url: str = Field(
        default="http://localhost:8000",
        validation_alias=AliasChoices("FLOWGRID_PUBLIC_URL", "public_url"),
    )

    # Unset: POST /slack/events answers 404 (real Slack is not connected to this deployment).
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("FLOWGRID_SLACK_SIGNING_SECRET", "slack_signing_secret"),
    )

    # Where replies to Slack go, and where bot tokens are checked: Slack's Web API. Another
    # value (a Slack-compatible server, tests) is the deployment's choice, never a workspace's.
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        validation_alias=AliasChoices("FLOWGRID_SLACK_API_URL", "slack_api_url"),
    )

    @field_validator("slack_signing_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def public_origin(self) -> str:
        """Scheme, host and port of the public URL: the only origin state changes may come from."""
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def secure_cookies(self) -> bool:
        """Cookies get `Secure` (and the `__Host-` prefix) when users reach us over https."""
        return self.public_url.lower().startswith("https://")

    @property
    def session_cookie(self) -> str:
        # `__Host-` pins the cookie to this host and path /, but browsers accept it only with
        # Secure, so plain-http development (localhost) uses the bare name.
        return "__Host-fg_session" if self.secure_cookies else "fg_session"
