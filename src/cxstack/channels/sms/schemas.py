"""SMS payloads: the numbers API, what provider webhooks carry, and the events this channel publishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.catalog import EventType

Provider = Literal["twilio"]
PROVIDERS: tuple[str, ...] = ("twilio",)
DEFAULT_HELP_TEXT = (
    "You are texting our support team. Reply with your question and an agent will answer. "
    "Reply STOP to stop receiving messages, START to receive them again."
)
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


class NumberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    number: str = Field(min_length=1, max_length=40, description="The number in any format; stored in E.164.")
    provider: Provider = "twilio"
    account_sid: str = Field(
        pattern=r"^AC[0-9a-fA-F]{32}$", description="The provider account the number belongs to."
    )
    auth_token: str = Field(
        min_length=16,
        max_length=128,
        description="Checks the provider's webhook signatures and authenticates sends; never returned.",
    )
    help_text: str = Field(
        default=DEFAULT_HELP_TEXT,
        min_length=1,
        max_length=1600,
        description="The answer to a customer who texts HELP or INFO.",
    )
    region: str = Field(default="US", min_length=2, max_length=2, description="Region for local numbers.")


class NumberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    number: str
    provider: str
    account_sid: str
    help_text: str
    created_at: datetime


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


class NumberRegistered(BaseModel):
    number_id: str
    number: str
    provider: str
    account_sid: str


class NumberRemoved(BaseModel):
    number_id: str
    number: str


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
    EventType("sms.number_registered", NumberRegistered, description="A tenant registered an SMS number."),
    EventType("sms.number_removed", NumberRemoved, description="A tenant removed an SMS number."),
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
