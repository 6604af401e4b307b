"""Case queries, each scoped to one tenant by construction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, not_, or_, select
from sqlalchemy.orm import Session

from cxstack.governance.staff.visibility import Visibility
from cxstack.kit.errors import NotFound
from cxstack.kit.pagination import Page, paginate
from cxstack.records.cases.models import Case
from cxstack.records.conversations.models import Conversation
from cxstack.records.conversations.visibility import seen_by
from cxstack.records.tags.repository import tagged_target_ids

#: Statuses in which a case no longer runs against its due time.
FINISHED = ("solved", "closed")


class CaseRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def find(self, case_id: str) -> Case | None:
        return self.session.scalar(select(Case).where(Case.tenant_id == self.tenant_id, Case.id == case_id))

    def get(self, case_id: str, *, visibility: Visibility | None = None) -> Case:
        """Return the case; raises NotFound (also for another tenant's id, and for one ``visibility`` does
        not see)."""
        query = select(Case).where(Case.tenant_id == self.tenant_id, Case.id == case_id)
        if visibility is not None:
            query = query.where(self._seen_by(visibility))
        case = self.session.scalar(query)
        if case is None:
            raise NotFound(f"case {case_id} does not exist", field="case_id")
        return case

    def _seen_by(self, visibility: Visibility) -> ColumnElement[bool]:
        """Cases ``visibility`` sees: those of no conversation, of a conversation it sees, or assigned to
        one of its people."""
        seen = select(Conversation.id).where(
            Conversation.tenant_id == self.tenant_id,
            seen_by(visibility, dialect=self.session.get_bind().dialect.name),
        )
        return or_(
            Case.conversation_id.is_(None),
            Case.conversation_id.in_(seen),
            Case.assignee.in_(sorted(visibility.assignees)),
        )

    def of_customer(self, customer_id: str, *, case_ids: Sequence[str] | None = None) -> list[Case]:
        """Return the customer's cases (only those among ``case_ids`` when given), oldest first."""
        query = select(Case).where(Case.tenant_id == self.tenant_id, Case.customer_id == customer_id)
        if case_ids is not None:
            query = query.where(Case.id.in_(case_ids))
        return list(self.session.scalars(query.order_by(Case.id)))

    def list_page(
        self,
        *,
        cursor: str | None,
        limit: int,
        status: str | None = None,
        priority: str | None = None,
        customer_id: str | None = None,
        assignee: str | None = None,
        tag: str | None = None,
        overdue_at: datetime | None = None,
        not_overdue_at: datetime | None = None,
        visibility: Visibility | None = None,
    ) -> Page[Case]:
        """``overdue_at``: only cases due before it and not solved or closed; ``not_overdue_at``: the rest;
        ``visibility``: only the cases it sees."""
        query = select(Case).where(Case.tenant_id == self.tenant_id)
        if visibility is not None:
            query = query.where(self._seen_by(visibility))
        if status is not None:
            query = query.where(Case.status == status)
        if priority is not None:
            query = query.where(Case.priority == priority)
        if customer_id is not None:
            query = query.where(Case.customer_id == customer_id)
        if assignee is not None:
            query = query.where(Case.assignee == assignee)
        if tag is not None:
            query = query.where(
                Case.id.in_(tagged_target_ids(tenant_id=self.tenant_id, target_type="case", tag=tag))
            )
        if overdue_at is not None:
            query = query.where(_overdue(overdue_at))
        if not_overdue_at is not None:
            query = query.where(not_(_overdue(not_overdue_at)))
        return paginate(self.session, query, id_column=Case.id, cursor=cursor, limit=limit)


def _overdue(now: datetime) -> ColumnElement[bool]:
    return and_(Case.due_at.is_not(None), Case.due_at < now, Case.status.not_in(FINISHED))
