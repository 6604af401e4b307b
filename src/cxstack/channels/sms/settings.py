"""The SMS channel's settings, read from the environment (prefix ``CXSTACK_SMS_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cxstack.channels.twilio.rest import DEFAULT_API_URL

STATUS_CALLBACK_PATH = "/hooks/sms/twilio/status"


class SmsSettings(BaseSettings):
    """Where the providers' APIs are and where they reach cxstack back."""

    model_config = SettingsConfigDict(env_prefix="CXSTACK_SMS_", extra="ignore")

    twilio_api_url: str = Field(
        default=DEFAULT_API_URL, description="Base URL of Twilio's REST API (a test double in tests)."
    )
    public_url: str | None = Field(
        default=None,
        description=(
            "The URL at which the provider reaches this cxstack (https://cx.example.com). Set, outbound "
            "messages ask for delivery status callbacks at <public_url>/hooks/sms/twilio/status."
        ),
    )
    send_timeout_seconds: float = Field(default=10.0, gt=0)

    @property
    def status_callback_url(self) -> str | None:
        return self.public_url.rstrip("/") + STATUS_CALLBACK_PATH if self.public_url else None
