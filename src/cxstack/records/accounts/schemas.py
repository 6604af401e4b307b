"""Account payloads for the API and the events this domain publishes.

Annual revenue is an integer number of cents (the smallest unit of ``currency``): ``125000000`` is
1,250,000.00. Integers keep money exact in JSON, in both databases and in every client language.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.events import EventPayload
from cxstack.kit.models import StrictModel

MAX_REVENUE_CENTS = 2**63 - 1
CURRENCY_PATTERN = r"^[A-Za-z]{3}$"


class AccountCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    domain: str | None = Field(default=None, max_length=253, description="The company's web domain.")
    plan: str | None = Field(default=None, min_length=1, max_length=80)
    annual_revenue_cents: int | None = Field(
        default=None, ge=0, le=MAX_REVENUE_CENTS, description="Annual revenue in cents of `currency`."
    )
    currency: str = Field(default="USD", pattern=CURRENCY_PATTERN, description="ISO 4217 code.")
    attributes: dict[str, Any] = Field(default_factory=dict)


class AccountUpdate(StrictModel):
    """Fields to change; a null ``domain``, ``plan`` or ``annual_revenue_cents`` clears it."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    domain: str | None = Field(default=None, max_length=253)
    plan: str | None = Field(default=None, min_length=1, max_length=80)
    annual_revenue_cents: int | None = Field(default=None, ge=0, le=MAX_REVENUE_CENTS)
    currency: str | None = Field(default=None, pattern=CURRENCY_PATTERN)
    attributes: dict[str, Any] | None = None


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    domain: str | None
    plan: str | None
    annual_revenue_cents: int | None
    currency: str
    attributes: dict[str, Any]
    version: int = Field(description="Raised by one on every change; the ETag header carries it.")
    created_at: datetime
    updated_at: datetime


# -- event payloads ------------------------------------------------------------------------------


class AccountCreated(EventPayload, type="account.created"):
    """An account (company) was created."""

    account_id: str
    name: str
    domain: str | None
    plan: str | None
    annual_revenue_cents: int | None
    currency: str


class AccountUpdated(EventPayload, type="account.updated"):
    """Fields of an account changed."""

    account_id: str
    changes: dict[str, Any]
    #: The account's version after the change (absent from events written before versions were kept).
    version: int | None = None


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (
    AccountCreated,
    AccountUpdated,
)
