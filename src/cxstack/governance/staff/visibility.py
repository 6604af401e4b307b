"""What a signed-in person sees of the tenant's work: it follows their role and their teams.

A conversation is the work of the teams of the queue routing put it in (none: every team's). An admin
sees everything; an agent sees the conversations assigned to them and those of their teams or of no team;
a supervisor sees those of their teams or of no team, and those assigned to them or to a member of their
teams. API keys are for integrations and see everything their scopes allow.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from cxstack.governance.staff.repository import StaffRepository


@dataclass(frozen=True, slots=True)
class Visibility:
    """The conversations a signed-in agent or supervisor may see: those with no team, those of one of
    ``team_ids``, and those assigned to one of ``assignees``."""

    team_ids: frozenset[str]
    assignees: frozenset[str]

    def allows(self, *, team_ids: Collection[str] | None, assignee: str | None) -> bool:
        """Whether a conversation of these teams (none: every team's), assigned to ``assignee``, is seen."""
        if not team_ids or not self.team_ids.isdisjoint(team_ids):
            return True
        return assignee is not None and assignee in self.assignees


def visibility_of(
    session: Session, *, tenant_id: str, user_id: str, role: str, team_ids: Sequence[str]
) -> Visibility | None:
    """Return what a person of ``role`` in ``team_ids`` sees; None (everything) for an admin. A
    supervisor's members are read from the database."""
    if role == "admin":
        return None
    assignees = {user_id}
    if role == "supervisor" and team_ids:
        for members in StaffRepository(session, tenant_id).member_ids_of(team_ids).values():
            assignees.update(members)
    return Visibility(team_ids=frozenset(team_ids), assignees=frozenset(assignees))
