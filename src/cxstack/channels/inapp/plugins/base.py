"""The base class of a push-notification provider: deliver a reply's notification to a user's devices."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from cxstack.backbone.effects import RetryLater


@dataclass(frozen=True, slots=True)
class Device:
    platform: str
    token: str
    #: The service that issued the token (``apns``, ``fcm``); empty where it does not matter.
    provider: str = ""
    #: The app's bundle id (APNs topic) the token belongs to; empty: the tenant's default.
    topic: str = ""
    #: cxstack's id of the registration; empty for a device not stored.
    id: str = ""


@dataclass(frozen=True, slots=True)
class PushNotification:
    """A reply for a user of the company's app who has no chat socket open."""

    tenant_id: str
    user_id: str
    conversation_id: str
    message_id: str
    title: str
    body: str
    devices: tuple[Device, ...] = field(default_factory=tuple)
    #: Where the tenant's push service takes notifications (for providers that post to it).
    push_url: str | None = None
    #: Key of the signature a provider puts on what it sends (the tenant's identity secret).
    signing_key: str = ""
    #: The tenant's credentials at a provider that pushes to devices directly (its own names and values).
    credentials: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PushResult:
    provider_id: str
    delivered_to: int


class PushError(Exception):
    """The notification was not delivered."""


class PushRejected(PushError):
    """Refused for good (a bad token, a 4xx answer): not retried."""


class DeviceUnregistered(PushRejected):
    """The provider says the device's token is no longer valid (app uninstalled, token rotated): the
    device should be forgotten."""

    def __init__(self, message: str, *, device: Device, reason: str) -> None:
        super().__init__(message)
        self.device = device
        self.reason = reason


class PushUnavailable(PushError, RetryLater):
    """The provider could not be reached or failed on its side: retried, not before ``retry_after_s`` (the
    wait the provider asked for with ``Retry-After``) when it said one."""


class PushProvider(ABC):
    """Delivers reply notifications; one instance serves every tenant."""

    name: ClassVar[str]

    @abstractmethod
    async def send(self, notification: PushNotification) -> PushResult:
        """Deliver ``notification``; raises PushRejected (for good; DeviceUnregistered for a dead token)
        or PushUnavailable (try again)."""

    async def aclose(self) -> None:  # noqa: B027 (most providers keep no connection)
        """Close the connections the provider keeps open between notifications, if any; a later ``send``
        opens new ones."""


def retry_after_seconds(value: str | None) -> float | None:
    """Return the seconds of a ``Retry-After`` header given in seconds, or None (absent or a date)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
