"""The base class of a push-notification provider: deliver a reply's notification to a user's devices."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Device:
    platform: str
    token: str


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


@dataclass(frozen=True, slots=True)
class PushResult:
    provider_id: str
    delivered_to: int


class PushError(Exception):
    """The notification was not delivered."""


class PushRejected(PushError):
    """Refused for good (a bad token, a 4xx answer): not retried."""


class PushUnavailable(PushError):
    """The provider could not be reached or failed on its side: retried."""


class PushProvider(ABC):
    """Delivers reply notifications; one instance serves every tenant."""

    name: ClassVar[str]

    @abstractmethod
    async def send(self, notification: PushNotification) -> PushResult:
        """Deliver ``notification``; raises PushRejected (for good) or PushUnavailable (try again)."""
