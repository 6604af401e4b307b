"""The conversations a signed-in person sees (``cxstack.governance.staff.visibility``), as a condition of
a query: no team, one of their teams, or assigned to one of the people whose work they see."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func, literal, or_, select

from cxstack.governance.staff.visibility import Visibility
from cxstack.records.conversations.models import Conversation


def seen_by(visibility: Visibility, *, dialect: str) -> ColumnElement[bool]:
    """The condition on ``Conversation`` rows that ``visibility`` sees, in ``dialect``'s JSON functions
    (``team_ids`` is JSON on SQLite, JSONB on PostgreSQL)."""
    postgres = dialect == "postgresql"
    length = func.jsonb_array_length if postgres else func.json_array_length
    conditions: list[ColumnElement[bool]] = [length(Conversation.team_ids) == 0]
    if visibility.team_ids:
        elements = func.jsonb_array_elements_text if postgres else func.json_each
        teams = elements(Conversation.team_ids).table_valued("value")
        conditions.append(
            select(literal(1))
            .select_from(teams)
            .where(teams.c.value.in_(sorted(visibility.team_ids)))
            .exists()
        )
    if visibility.assignees:
        # Never NULL (an unassigned conversation), so that the condition can be negated.
        assigned = Conversation.assignee.is_not(None)
        conditions.append(and_(assigned, Conversation.assignee.in_(sorted(visibility.assignees))))
    return or_(*conditions)
