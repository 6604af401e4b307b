"""SLA queries, each scoped to one tenant by construction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from cxstack.kit.pagination import Page, paginate
from cxstack.routing.sla.models import SlaCalendar, SlaClock, SlaConversation, SlaPolicy


class SlaRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    # -- calendars and policies ----------------------------------------------------------------------

    def calendar(self, calendar_id: str) -> SlaCalendar | None:
        return self.session.scalar(
            select(SlaCalendar).where(SlaCalendar.tenant_id == self.tenant_id, SlaCalendar.id == calendar_id)
        )

    def calendars_page(self, *, cursor: str | None, limit: int) -> Page[SlaCalendar]:
        query = select(SlaCalendar).where(SlaCalendar.tenant_id == self.tenant_id)
        return paginate(self.session, query, id_column=SlaCalendar.id, cursor=cursor, limit=limit)

    def policy(self, policy_id: str) -> SlaPolicy | None:
        return self.session.scalar(
            select(SlaPolicy).where(SlaPolicy.tenant_id == self.tenant_id, SlaPolicy.id == policy_id)
        )

    def policies_page(self, *, cursor: str | None, limit: int) -> Page[SlaPolicy]:
        query = select(SlaPolicy).where(SlaPolicy.tenant_id == self.tenant_id)
        return paginate(self.session, query, id_column=SlaPolicy.id, cursor=cursor, limit=limit)

    def policies(self) -> Sequence[SlaPolicy]:
        return self.session.scalars(
            select(SlaPolicy).where(SlaPolicy.tenant_id == self.tenant_id).order_by(SlaPolicy.id)
        ).all()

    def policies_using(self, calendar_id: str) -> Sequence[str]:
        return self.session.scalars(
            select(SlaPolicy.id).where(
                SlaPolicy.tenant_id == self.tenant_id, SlaPolicy.calendar_id == calendar_id
            )
        ).all()

    # -- conversations and clocks --------------------------------------------------------------------

    def conversation(self, conversation_id: str) -> SlaConversation | None:
        return self.session.scalar(
            select(SlaConversation).where(
                SlaConversation.tenant_id == self.tenant_id,
                SlaConversation.conversation_id == conversation_id,
            )
        )

    def conversations_among(self, conversation_ids: Sequence[str]) -> set[str]:
        """The ids among ``conversation_ids`` of conversations watched already."""
        if not conversation_ids:
            return set()
        return set(
            self.session.scalars(
                select(SlaConversation.conversation_id).where(
                    SlaConversation.tenant_id == self.tenant_id,
                    SlaConversation.conversation_id.in_(conversation_ids),
                )
            )
        )

    def clock(self, clock_id: str) -> SlaClock | None:
        return self.session.scalar(
            select(SlaClock).where(SlaClock.tenant_id == self.tenant_id, SlaClock.id == clock_id)
        )

    def clocks_of(self, conversation_id: str, *, states: Sequence[str] | None = None) -> Sequence[SlaClock]:
        query = select(SlaClock).where(
            SlaClock.tenant_id == self.tenant_id, SlaClock.conversation_id == conversation_id
        )
        if states is not None:
            query = query.where(SlaClock.state.in_(states))
        return self.session.scalars(query.order_by(SlaClock.started_at, SlaClock.id)).all()

    # -- clocks at risk ------------------------------------------------------------------------------

    def _at_risk(self, *, now: datetime, horizon: datetime | None) -> Select[Any]:
        """The clocks at risk as of ``now``: running and warned (``horizon`` given: due by then) or
        overdue, or breached, of conversations not closed."""
        running = SlaClock.state == "running"
        soon = (
            SlaClock.due_at <= horizon
            if horizon is not None
            else or_(SlaClock.warned_at.is_not(None), SlaClock.due_at <= now)
        )
        return (
            select(SlaClock)
            .join(
                SlaConversation,
                and_(
                    SlaConversation.tenant_id == SlaClock.tenant_id,
                    SlaConversation.conversation_id == SlaClock.conversation_id,
                ),
            )
            .where(
                SlaClock.tenant_id == self.tenant_id,
                SlaClock.state.in_(("running", "breached")),
                SlaClock.due_at.is_not(None),
                or_(SlaClock.state == "breached", and_(running, soon)),
                SlaConversation.closed.is_(False),
            )
        )

    def at_risk_after(
        self, *, now: datetime, horizon: datetime | None, after: tuple[datetime, str] | None, limit: int
    ) -> Sequence[SlaClock]:
        """Up to ``limit`` clocks at risk (``_at_risk``) after ``after`` (due time, id), soonest due first."""
        query = self._at_risk(now=now, horizon=horizon)
        if after is not None:
            due, clock_id = after
            query = query.where(
                or_(SlaClock.due_at > due, and_(SlaClock.due_at == due, SlaClock.id > clock_id))
            )
        return self.session.scalars(query.order_by(SlaClock.due_at, SlaClock.id).limit(limit)).all()

    def at_risk_conversation_ids(self, *, now: datetime, horizon: datetime | None) -> list[str]:
        """The conversation of each clock at risk (one a clock, so repeated for a conversation's clocks)."""
        query = self._at_risk(now=now, horizon=horizon).with_only_columns(SlaClock.conversation_id)
        return list(self.session.scalars(query))

    def count_at_risk(self, *, now: datetime, horizon: datetime | None) -> int:
        query = self._at_risk(now=now, horizon=horizon).with_only_columns(func.count())
        return int(self.session.scalar(query) or 0)
