"""Saved view queries, each scoped to one tenant by construction."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from cxstack.workspace.views.models import SavedView


class ViewRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def get(self, view_id: str) -> SavedView | None:
        return self.session.scalar(
            select(SavedView).where(SavedView.tenant_id == self.tenant_id, SavedView.id == view_id)
        )

    def seen_by(self, user_id: str, team_ids: Collection[str]) -> Sequence[SavedView]:
        """The user's views and those shared with ``team_ids``, by position then age."""
        seen = SavedView.owner_id == user_id
        if team_ids:
            seen = or_(seen, SavedView.team_id.in_(sorted(team_ids)))
        return self.session.scalars(
            select(SavedView)
            .where(SavedView.tenant_id == self.tenant_id, seen)
            .order_by(SavedView.position, SavedView.id)
        ).all()

    def count_of(self, owner_id: str) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(SavedView)
                .where(SavedView.tenant_id == self.tenant_id, SavedView.owner_id == owner_id)
            )
            or 0
        )

    def next_position(self, owner_id: str) -> int:
        last = self.session.scalar(
            select(func.max(SavedView.position)).where(
                SavedView.tenant_id == self.tenant_id, SavedView.owner_id == owner_id
            )
        )
        return 0 if last is None else int(last) + 1

    def make_room(self, owner_id: str, position: int, *, moving: str | None = None) -> None:
        """Move the owner's views at ``position`` or after it (but ``moving``) one place down."""
        statement = update(SavedView).where(
            SavedView.tenant_id == self.tenant_id,
            SavedView.owner_id == owner_id,
            SavedView.position >= position,
        )
        if moving is not None:
            statement = statement.where(SavedView.id != moving)
        self.session.execute(
            statement.values(position=SavedView.position + 1).execution_options(synchronize_session=False)
        )
