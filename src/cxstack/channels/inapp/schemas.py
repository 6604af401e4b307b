"""In-app payloads: messages and devices of the app API, the tenant's push settings, and the push events."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cxstack.backbone.events import EventPayload
from cxstack.kit.models import StrictModel
from cxstack.records.conversations.schemas import MAX_ATTACHMENTS, Attachment, MessageOut


class AppMessageIn(BaseModel):
    """A message from the app user; ``client_id`` makes a resend return the first message."""

    # Bodies keep their whitespace exactly.
    model_config = {"extra": "forbid"}

    client_id: str = Field(min_length=1, max_length=128)
    body: str = ""
    attachments: list[Attachment] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class AppMessages(BaseModel):
    conversation_id: str | None
    data: list[MessageOut]


Platform = Literal["ios", "android", "web"]
#: The services that issue push tokens.
PushService = Literal["apns", "fcm"]
#: What the API shows instead of a stored secret.
MASKED = "********"


class DeviceIn(StrictModel):
    """A device's push token: an APNs device token (ios) or an FCM registration token (android, web)."""

    platform: Platform
    token: str = Field(min_length=8, max_length=512)
    provider: PushService | None = Field(
        default=None,
        description="The service that issued the token: apns (an APNs device token, iOS's default) or fcm "
        "(an FCM registration token: Android's and the web's, and an iOS app's that uses Firebase Cloud "
        "Messaging). Left out: the platform's default.",
    )
    topic: str | None = Field(
        default=None,
        max_length=255,
        pattern=r"^[A-Za-z0-9.\-]+$",
        description="iOS: the app's bundle id (the apns-topic); left out: the tenant's apns_topic.",
    )

    @model_validator(mode="after")
    def _apns_is_ios_only(self) -> DeviceIn:
        if self.provider == "apns" and self.platform != "ios":
            raise ValueError(f"provider apns issues iOS device tokens only; a {self.platform} token is fcm's")
        return self


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    platform: str
    provider: str
    token: str
    topic: str
    created_at: datetime


class AppDevices(BaseModel):
    data: list[DeviceOut]


class PushSettingsIn(StrictModel):
    """The tenant's push credentials; fields left out keep their value, null removes one."""

    fcm_service_account: dict[str, Any] | str | None = Field(
        default=None,
        description="The Firebase project's service-account key file (JSON, as an object or a string); "
        "Android and web devices are pushed through FCM with it. Never returned.",
    )
    apns_key_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]{10}$", description="The key's id.")
    apns_team_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]{10}$", description="Your team id.")
    apns_private_key: str | None = Field(
        default=None,
        max_length=4096,
        description="The APNs signing key (the .p8 file's PEM text); iOS devices are pushed through APNs "
        "with it. Never returned.",
    )
    apns_topic: str | None = Field(
        default=None, max_length=255, pattern=r"^[A-Za-z0-9.\-]+$", description="The app's bundle id."
    )
    apns_sandbox: bool | None = Field(default=None, description="Push to APNs' development endpoint.")


class PushSettingsOut(BaseModel):
    """The tenant's push settings; secrets show as ``********`` when set."""

    fcm_service_account: str | None
    fcm_project_id: str | None
    fcm_client_email: str | None
    apns_key_id: str | None
    apns_team_id: str | None
    apns_private_key: str | None
    apns_topic: str | None
    apns_sandbox: bool
    updated_at: datetime | None


class PushSent(EventPayload, type="inapp.push_sent"):
    """A reply was pushed to an app user's devices."""

    conversation_id: str
    message_id: str
    user_id: str
    devices: int
    provider: str


class PushFailed(EventPayload, type="inapp.push_failed"):
    """A reply's push notification could not be sent."""

    conversation_id: str
    message_id: str
    user_id: str
    reason: str


class DeviceRemoved(EventPayload, type="inapp.device_removed"):
    """A push provider said an app user's device token is no longer valid; it was forgotten."""

    user_id: str
    platform: str
    #: The token's last characters, enough to tell it from the user's others.
    token_suffix: str
    #: The provider's word for why (``UNREGISTERED``, ``Unregistered``, ``BadDeviceToken``...).
    reason: str


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (
    PushSent,
    PushFailed,
    DeviceRemoved,
)
