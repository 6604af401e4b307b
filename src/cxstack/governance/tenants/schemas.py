"""Tenant and key payloads for the API and the events this domain publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.events import EventPayload

#: What a tenant key may do: ``read`` (GET on ``/v1``), ``write`` (every other method on ``/v1``),
#: ``admin`` (the tenant's audit log and key list). A key holds any of them; new keys hold all by default.
Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)


class TenantCreated(EventPayload, type="tenant.created"):
    """A tenant was created."""

    tenant_id: str
    name: str
    slug: str


class ApiKeyIssued(EventPayload, type="api_key.issued"):
    """An API key was issued to a tenant."""

    api_key_id: str
    tenant_id: str
    name: str
    prefix: str
    scopes: list[str] = Field(default_factory=lambda: [str(scope) for scope in SCOPES])


class ApiKeyRevoked(EventPayload, type="api_key.revoked"):
    """An API key was revoked."""

    api_key_id: str
    tenant_id: str


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (
    TenantCreated,
    ApiKeyIssued,
    ApiKeyRevoked,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreate(_Strict):
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(
        min_length=2,
        max_length=63,
        description="Lowercase letters, digits and dashes; unique.",
        examples=["acme"],
    )


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    slug: str
    created_at: datetime


class ApiKeyCreate(_Strict):
    name: str = Field(min_length=1, max_length=200, description="What the key is for (an integration).")
    scopes: list[Scope] | None = Field(
        default=None, min_length=1, description="Of read, write, admin; all three when not given."
    )


class ApiKeyOut(BaseModel):
    """A key as listed: never its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant_id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedApiKey(ApiKeyOut):
    """A key as issued: the only time its secret (``key``) is shown."""

    key: str


class OperatorKeyOut(BaseModel):
    """An operator key as listed: never its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedOperatorKey(OperatorKeyOut):
    """An operator key as issued: the only time its secret (``key``) is shown."""

    key: str


class TenantPage(BaseModel):
    data: list[TenantOut]
    next_cursor: str | None


class ApiKeyPage(BaseModel):
    data: list[ApiKeyOut]
    next_cursor: str | None
