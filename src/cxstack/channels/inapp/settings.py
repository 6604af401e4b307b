"""The in-app channel's process settings, read from the environment (prefix ``CXSTACK_INAPP_``): where the
push providers' APIs are. Each tenant's own push credentials are stored per tenant (``push.py``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cxstack.channels.inapp.plugins.apns import PRODUCTION_URL, SANDBOX_URL
from cxstack.channels.inapp.plugins.fcm import DEFAULT_API_URL, DEFAULT_TOKEN_URL


class InappSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CXSTACK_INAPP_", extra="ignore")

    fcm_api_url: str = Field(
        default=DEFAULT_API_URL, description="Base URL of FCM's HTTP v1 API (a test double in tests)."
    )
    fcm_token_url: str = Field(
        default=DEFAULT_TOKEN_URL,
        description="Google's OAuth 2.0 token endpoint: the only token_uri a service account may name.",
    )
    apns_url: str = Field(default=PRODUCTION_URL, description="APNs' production endpoint.")
    apns_sandbox_url: str = Field(
        default=SANDBOX_URL, description="APNs' development endpoint, for tenants whose apns_sandbox is set."
    )
    apns_ca_file: str | None = Field(
        default=None,
        description="A PEM bundle of the certificate authorities APNs connections trust instead of the "
        "system's (a TLS-inspecting proxy, or a test double).",
    )
    push_timeout_seconds: float = Field(default=10.0, gt=0)
