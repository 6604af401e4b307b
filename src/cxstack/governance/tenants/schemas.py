"""Tenant payloads for the API and the events this domain publishes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from cxstack.backbone.catalog import EventType


class TenantCreated(BaseModel):
    tenant_id: str
    name: str
    slug: str


class ApiKeyIssued(BaseModel):
    api_key_id: str
    tenant_id: str
    name: str
    prefix: str


class ApiKeyRevoked(BaseModel):
    api_key_id: str
    tenant_id: str


EVENT_TYPES = (
    EventType("tenant.created", TenantCreated, description="A tenant was created."),
    EventType("api_key.issued", ApiKeyIssued, description="An API key was issued to a tenant."),
    EventType("api_key.revoked", ApiKeyRevoked, description="An API key was revoked."),
)


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    slug: str
    created_at: datetime


class IssuedApiKey(BaseModel):
    """An API key as issued: the only time its secret is shown."""

    id: str
    tenant_id: str
    name: str
    key: str
