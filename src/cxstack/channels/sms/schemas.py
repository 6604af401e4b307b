"""SMS payloads: sends and opt-outs for the API, what provider webhooks carry, and the events this channel
publishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from cxstack.backbone.events import EventPayload

#: Message statuses in the order a send moves through them; a status is never replaced by an earlier one.
#: Statuses of equal rank (the final ones) do not replace each other either: the first one wins.
STATUS_RANK: dict[str, int] = {
    "refused": 0,
    "pending": 0,
    "accepted": 1,
    "scheduled": 1,
    "queued": 2,
    "sending": 3,
    "sent": 4,
    "delivered": 5,
    "undelivered": 5,
    "failed": 5,
    "canceled": 5,
    "read": 6,
}


class OutboundOut(BaseModel):
    """What became of an outbound message on SMS."""

    model_config = ConfigDict(from_attributes=True)

    message_id: str
    conversation_id: str
    customer_id: str
    from_number: str | None
    to_number: str | None
    provider: str | None
    provider_sid: str | None
    status: str
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime


class OptOutOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    phone: str
    customer_id: str
    opted_out: bool
    keyword: str
    updated_at: datetime


# -- what the provider's webhooks carry -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboundMedia:
    url: str
    content_type: str


@dataclass(frozen=True, slots=True)
class InboundSms:
    """An inbound message as the provider reported it (numbers in E.164)."""

    message_sid: str
    account_sid: str
    from_number: str
    to_number: str
    body: str
    media: tuple[InboundMedia, ...] = ()
    #: The provider's own reading of an opt-out keyword (``STOP``, ``START``, ``HELP``), where it sends one.
    opt_out_type: str | None = None


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A delivery status callback for an outbound message."""

    message_sid: str
    account_sid: str
    from_number: str
    status: str
    error_code: str | None = None


# -- event payloads ------------------------------------------------------------------------------


class OptOutChanged(EventPayload):
    """A phone number's SMS opt-out changed, by the keyword it texted."""

    phone: str
    customer_id: str
    number: str
    keyword: str
    message_sid: str


class SmsOptedOut(OptOutChanged, type="sms.opted_out"):
    """A phone number opted out of SMS (STOP)."""


class SmsOptedIn(OptOutChanged, type="sms.opted_in"):
    """A phone number opted back in to SMS (START)."""


class HelpRequested(EventPayload, type="sms.help_requested"):
    """A customer texted HELP; the help text went out."""

    phone: str
    customer_id: str
    conversation_id: str
    number: str
    message_sid: str


class SmsSubmitted(EventPayload, type="sms.submitted"):
    """The provider accepted an outbound message."""

    message_id: str
    conversation_id: str
    customer_id: str
    provider: str
    provider_sid: str
    from_number: str
    to_number: str
    status: str


class SmsSendFailed(EventPayload, type="sms.send_failed"):
    """An outbound message was refused (opted out, no number) or rejected by the provider."""

    message_id: str
    conversation_id: str
    customer_id: str
    from_number: str | None
    to_number: str | None
    #: ``opted_out``, ``no_phone``, ``no_number`` (refused, never sent), ``provider_rejected``, or
    #: ``provider_unavailable`` (the provider could not be reached by the last attempt).
    reason: str
    error_code: str | None
    error_message: str


class DeliveryUpdated(EventPayload, type="sms.delivery_updated"):
    """The provider reported a new delivery status."""

    message_id: str
    conversation_id: str
    customer_id: str
    provider_sid: str
    status: str
    previous_status: str
    error_code: str | None


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (
    SmsOptedOut,
    SmsOptedIn,
    HelpRequested,
    SmsSubmitted,
    SmsSendFailed,
    DeliveryUpdated,
)
