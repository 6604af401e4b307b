"""Canned responses: a tenant's prepared replies, with variables filled in for a conversation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class CannedResponse(TenantScoped, Base):
    """A reply an agent inserts by its shortcut; seen by the teams of ``team_ids`` (empty: everyone)."""

    __tablename__ = "canned_responses"
    __table_args__ = (UniqueConstraint("tenant_id", "shortcut", name="uq_canned_responses_tenant_shortcut"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: A lowercase slug (``refund-policy``), unique per tenant.
    shortcut: Mapped[str] = mapped_column(String(64))
    #: Text with ``{{variables}}`` of ``VARIABLES`` (``cxstack.workspace.canned.schemas``).
    body: Mapped[str] = mapped_column(Text)
    team_ids: Mapped[list[str]]
    #: Who created it (the actor: ``user:<id>`` or ``api_key:<id>``).
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
