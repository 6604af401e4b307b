"""The phone-number registry's table: each tenant's numbers at a provider, for messages and calls alike."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class PhoneNumber(TenantScoped, Base):
    """A tenant's phone number at a provider, with the credentials to send and call from it and to check
    the provider's webhook signatures. A number routes to one tenant only."""

    __tablename__ = "phone_numbers"
    __table_args__ = (UniqueConstraint("number"), Index("ix_phone_numbers_tenant_id_id", "tenant_id", "id"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: E.164.
    number: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(20))
    account_sid: Mapped[str] = mapped_column(String(64))
    #: Needed in clear to compute webhook signatures and to authenticate requests; never returned by the API.
    auth_token: Mapped[str] = mapped_column(String(128))
    #: The answer to a customer who texts HELP.
    help_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
