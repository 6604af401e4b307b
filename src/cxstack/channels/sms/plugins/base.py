"""The base class of an SMS provider: send a message, check and read the provider's webhooks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from cxstack.channels.providers import FormParams, ProviderAccount
from cxstack.channels.sms.schemas import InboundSms, StatusReport


@dataclass(frozen=True, slots=True)
class OutboundSms:
    from_number: str
    to_number: str
    body: str
    #: Where the provider reports delivery statuses; None sends without status callbacks.
    status_callback: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_sid: str
    status: str


class ProviderError(Exception):
    """The provider did not take a message."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class SendRejected(ProviderError):
    """The provider refused the message for good (a bad number, a blocked recipient): do not retry."""


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or failed on its side: the send may be retried."""


class SmsProvider(ABC):
    """An SMS provider. One instance serves every tenant; credentials come with each call."""

    #: The value of ``PhoneNumber.provider`` this plugin serves.
    name: ClassVar[str]

    @abstractmethod
    async def send(self, account: ProviderAccount, message: OutboundSms) -> SendResult:
        """Hand a message to the provider; raises SendRejected or ProviderUnavailable. Called outside any
        transaction (by the ``sms.send`` effect)."""

    @abstractmethod
    def signature_valid(self, *, url: str, params: FormParams, signature: str, auth_token: str) -> bool:
        """Return whether ``signature`` is the provider's signature of a webhook posted to ``url``."""

    @abstractmethod
    def parse_inbound(self, params: FormParams) -> InboundSms:
        """Read an inbound-message webhook; raises MalformedWebhook naming the field at fault."""

    @abstractmethod
    def parse_status(self, params: FormParams) -> StatusReport:
        """Read a delivery status callback; raises MalformedWebhook naming the field at fault."""
