"""Payloads of the phone-number registry: the numbers API and the events it publishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.events import EventPayload

Provider = Literal["twilio"]
PROVIDERS: tuple[str, ...] = ("twilio",)
DEFAULT_HELP_TEXT = (
    "You are texting our support team. Reply with your question and an agent will answer. "
    "Reply STOP to stop receiving messages, START to receive them again."
)


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
        description="Checks the provider's webhook signatures and authenticates requests; never returned.",
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


@dataclass(frozen=True, slots=True)
class NumberRoute:
    """What a webhook or a provider request needs to know about a number."""

    number_id: str
    tenant_id: str
    number: str
    provider: str
    account_sid: str
    auth_token: str
    help_text: str


# -- event payloads --------------------------------------------------------------------------------


class NumberRegistered(EventPayload, type="sms.number_registered"):
    """A tenant registered a number (for messages and calls)."""

    number_id: str
    number: str
    provider: str
    account_sid: str


class NumberRemoved(EventPayload, type="sms.number_removed"):
    """A tenant removed a number."""

    number_id: str
    number: str


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (
    NumberRegistered,
    NumberRemoved,
)
