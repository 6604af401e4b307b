"""Canned response queries, each scoped to one tenant by construction."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, func, literal, or_, select
from sqlalchemy.orm import Session

from cxstack.kit.pagination import Page, paginate
from cxstack.workspace.canned.models import CannedResponse


class CannedRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def get(self, canned_id: str, *, seen_by_teams: Collection[str] | None = None) -> CannedResponse | None:
        """The canned response, if it exists and (``seen_by_teams`` given) is shared or of those teams."""
        query = select(CannedResponse).where(
            CannedResponse.tenant_id == self.tenant_id, CannedResponse.id == canned_id
        )
        if seen_by_teams is not None:
            query = query.where(self._seen_by(seen_by_teams))
        return self.session.scalar(query)

    def by_shortcut(self, shortcut: str) -> CannedResponse | None:
        return self.session.scalar(
            select(CannedResponse).where(
                CannedResponse.tenant_id == self.tenant_id, CannedResponse.shortcut == shortcut
            )
        )

    def list_page(
        self, *, q: str | None, seen_by_teams: Collection[str] | None, cursor: str | None, limit: int
    ) -> Page[CannedResponse]:
        """A page in creation order, of those whose name or shortcut holds ``q`` (any case), of the shared
        ones and those of ``seen_by_teams`` (None: all)."""
        query = select(CannedResponse).where(CannedResponse.tenant_id == self.tenant_id)
        if q:
            needle = q.lower()
            query = query.where(
                or_(
                    func.lower(CannedResponse.name).contains(needle, autoescape=True),
                    CannedResponse.shortcut.contains(needle, autoescape=True),
                )
            )
        if seen_by_teams is not None:
            query = query.where(self._seen_by(seen_by_teams))
        return paginate(self.session, query, id_column=CannedResponse.id, cursor=cursor, limit=limit)

    def _seen_by(self, team_ids: Collection[str]) -> ColumnElement[bool]:
        # ``team_ids`` is JSON on SQLite, JSONB on PostgreSQL.
        postgres = self.session.get_bind().dialect.name == "postgresql"
        length = func.jsonb_array_length if postgres else func.json_array_length
        conditions: list[ColumnElement[bool]] = [length(CannedResponse.team_ids) == 0]
        if team_ids:
            elements = func.jsonb_array_elements_text if postgres else func.json_each
            teams = elements(CannedResponse.team_ids).table_valued("value")
            conditions.append(
                select(literal(1)).select_from(teams).where(teams.c.value.in_(sorted(team_ids))).exists()
            )
        return or_(*conditions)
