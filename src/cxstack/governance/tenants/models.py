"""Tenants, their API keys and the operators' keys (keys stored as SHA-256 digests, never in the clear)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime]


class ApiKey(Base):
    """A tenant's key: valid on the tenant routes of ``/v1`` for the scopes it holds."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    #: Of ``SCOPES`` (``cxstack.governance.tenants.schemas``).
    scopes: Mapped[list[str]]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    #: Updated at most once a minute (``LAST_USED_RESOLUTION``), so it may lag the last request by that.
    last_used_at: Mapped[datetime | None]


class OperatorKey(Base):
    """An operator's key: valid on ``/v1/operator`` routes only, never on a tenant's."""

    __tablename__ = "operator_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
