"""SMS payloads: sends and opt-outs for the API, what provider webhooks carry, and the events this channel
publishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from cxstack.backbone.catalog import EventType

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


class OptOutChanged(BaseModel):
    phone: str
    customer_id: str
    number: str
    keyword: str
    message_sid: str


class HelpRequested(BaseModel):
    phone: str
    customer_id: str
    conversation_id: str
    number: str
    message_sid: str


class SmsSubmitted(BaseModel):
    message_id: str
    conversation_id: str
    customer_id: str
    provider: str
    provider_sid: str
    from_number: str
    to_number: str
    status: str


class SmsSendFailed(BaseModel):
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


class DeliveryUpdated(BaseModel):
    message_id: str
    conversation_id: str
    customer_id: str
    provider_sid: str
    status: str
    previous_status: str
    error_code: str | None


EVENT_TYPES = (
    EventType("sms.opted_out", OptOutChanged, description="A phone number opted out of SMS (STOP)."),
    EventType("sms.opted_in", OptOutChanged, description="A phone number opted back in to SMS (START)."),
    EventType(
        "sms.help_requested", HelpRequested, description="A customer texted HELP; the help text went out."
    ),
    EventType("sms.submitted", SmsSubmitted, description="The provider accepted an outbound message."),
    EventType(
        "sms.send_failed",
        SmsSendFailed,
        description="An outbound message was refused (opted out, no number) or rejected by the provider.",
    ),
    EventType(
        "sms.delivery_updated", DeliveryUpdated, description="The provider reported a new delivery status."
    ),
)
