"""Customers and the identities that resolve to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class Customer(TenantScoped, Base):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_tenant_id_id", "tenant_id", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    account_id: Mapped[str | None] = mapped_column(String(32), index=True)
    attributes: Mapped[dict[str, Any]]
    #: Set when this customer was merged into another; the record stays so the merge can be undone.
    merged_into_id: Mapped[str | None] = mapped_column(String(32))
    #: Raised by one on every change of the record (its identities included): the API's ``ETag``, which
    #: a write sends back in ``If-Match`` so that it cannot overwrite a change it has not seen.
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Identity(TenantScoped, Base):
    """A way to recognise a customer: an email, an E.164 phone number, a visitor or app user id, an
    external system's id. One identity belongs to one customer of a tenant."""

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "system", "value"),
        Index("ix_identities_lookup", "tenant_id", "kind", "value"),
        # A customer's identities. Without it SQLite (no ANALYZE statistics) reads them through the
        # tenant_id index, i.e. every identity of the tenant: 300 ms per lookup at a million customers.
        Index("ix_identities_tenant_id_customer_id", "tenant_id", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    #: The external system for ``external`` identities (``salesforce``); empty otherwise.
    system: Mapped[str] = mapped_column(String(40), default="")
    value: Mapped[str] = mapped_column(String(320))
    verified: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
