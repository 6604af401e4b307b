"""Customer and identity payloads for the API and the events this domain publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.events import EventPayload
from cxstack.kit.inputs import Attributes
from cxstack.kit.models import StrictModel
from cxstack.records.customers.identities import IdentityKind


class IdentityIn(StrictModel):
    kind: IdentityKind
    value: str = Field(min_length=1, max_length=320)
    system: str = Field(default="", max_length=40, description="External system, for kind=external.")
    verified: bool = False


class CustomerCreate(StrictModel):
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    account_id: str | None = None
    attributes: Attributes = Field(default_factory=dict)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=50)
    region: str = Field(default="US", min_length=2, max_length=2, description="Region for local numbers.")


class CustomerUpdate(StrictModel):
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    account_id: str | None = None
    attributes: Attributes | None = None
    region: str = Field(default="US", min_length=2, max_length=2)


class IdentityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    customer_id: str
    kind: str
    system: str
    value: str
    verified: bool
    created_at: datetime


class CustomerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str | None
    email: str | None
    phone: str | None
    account_id: str | None
    attributes: dict[str, Any]
    merged_into_id: str | None
    version: int = Field(description="Raised by one on every change; the ETag header carries it.")
    created_at: datetime
    updated_at: datetime
    identities: list[IdentityOut] = Field(default_factory=list)


# -- event payloads ------------------------------------------------------------------------------


class CustomerCreated(EventPayload, type="customer.created"):
    """A customer record was created."""

    customer_id: str
    name: str | None
    email: str | None
    phone: str | None
    account_id: str | None


class CustomerUpdated(EventPayload, type="customer.updated"):
    """Fields of a customer changed."""

    customer_id: str
    changes: dict[str, Any]
    #: The customer's version after the change (absent from events written before versions were kept).
    version: int | None = None


class IdentityLinked(EventPayload, type="identity.linked"):
    """An identity now resolves to a customer."""

    identity_id: str
    customer_id: str
    kind: str
    system: str
    value: str


class IdentityUnlinked(EventPayload, type="identity.unlinked"):
    """An identity was removed from a customer."""

    identity_id: str
    customer_id: str
    kind: str
    value: str


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (
    CustomerCreated,
    CustomerUpdated,
    IdentityLinked,
    IdentityUnlinked,
)
