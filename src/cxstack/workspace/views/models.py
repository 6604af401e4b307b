"""Saved inbox views: a person's named filters of the conversation list, kept or shared to a team."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class SavedView(TenantScoped, Base):
    """A view of its owner's, seen also by the members of ``team_id`` when it is shared."""

    __tablename__ = "saved_views"
    __table_args__ = (
        Index("ix_saved_views_owner", "tenant_id", "owner_id"),
        Index("ix_saved_views_team", "tenant_id", "team_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The user who made it: the only one who changes it.
    owner_id: Mapped[str] = mapped_column(String(32))
    #: The team it is shared with; None: its owner's alone.
    team_id: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    #: The conversation list's query parameters (``FILTERS`` of ``cxstack.workspace.views.schemas``).
    filters: Mapped[dict[str, Any]]
    #: Where it stands in its owner's list, lowest first.
    position: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
