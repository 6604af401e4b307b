"""The voice channel's settings, read from the environment (prefix ``CXSTACK_VOICE_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cxstack.channels.twilio.rest import DEFAULT_API_URL


class VoiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CXSTACK_VOICE_", extra="ignore")

    twilio_api_url: str = Field(
        default=DEFAULT_API_URL, description="Base URL of Twilio's REST API (a test double in tests)."
    )
    public_url: str | None = Field(
        default=None,
        description=(
            "The URL at which Twilio reaches this cxstack (https://cx.example.com). Set, calls connected to "
            "an agent are recorded and their recordings attached to the conversation, and conference events "
            "are reported; outgoing calls need it (Twilio fetches the answered call's TwiML there)."
        ),
    )
    hold_music_url: str = Field(default="http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3")
    update_timeout_seconds: float = Field(default=10.0, gt=0)
    download_timeout_seconds: float = Field(default=60.0, gt=0)
    delete_recordings_after_copy: bool = Field(
        default=False,
        description="Delete a recording at Twilio once it is copied into cxstack's file store.",
    )
