"""Accounts: the companies customers belong to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class Account(TenantScoped, Base):
    __tablename__ = "accounts"
    __table_args__ = (
        # One account per company domain within a tenant; accounts without a domain are not limited.
        UniqueConstraint("tenant_id", "domain"),
        Index("ix_accounts_tenant_id_plan", "tenant_id", "plan"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(253))
    plan: Mapped[str | None] = mapped_column(String(80))
    #: Annual revenue in the smallest unit of ``currency`` (cents), so money is never a float.
    annual_revenue_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    attributes: Mapped[dict[str, Any]]
    #: Raised by one on every change: the API's ``ETag``, for ``If-Match`` on a change (as customers').
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
