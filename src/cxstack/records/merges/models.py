"""Customer merges, kept with exactly what moved so that a merge can be undone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class CustomerMerge(TenantScoped, Base):
    __tablename__ = "customer_merges"
    __table_args__ = (
        Index("ix_customer_merges_target", "tenant_id", "target_customer_id"),
        Index("ix_customer_merges_source", "tenant_id", "source_customer_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source_customer_id: Mapped[str] = mapped_column(String(32))
    target_customer_id: Mapped[str] = mapped_column(String(32))
    #: Ids moved from source to target, by kind: identities, conversations, cases, notes.
    moved: Mapped[dict[str, Any]]
    #: Target fields that were empty and took the source's value, with the value they had before.
    filled: Mapped[dict[str, Any]]
    merged_by: Mapped[str] = mapped_column(String(120))
    merged_at: Mapped[datetime]
    undone_by: Mapped[str | None] = mapped_column(String(120))
    undone_at: Mapped[datetime | None]
