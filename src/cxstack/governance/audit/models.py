"""The audit trail: who did what to which record, append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class AuditEntry(TenantScoped, Base):
    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_target", "tenant_id", "target_type", "target_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]]
    correlation_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
