"""Queries of a tenant's users, teams, sessions and reset tokens; every one scoped to the tenant."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.orm import Session

from cxstack.governance.staff.models import PasswordReset, Team, TeamMember, User, UserSession


class StaffRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    # -- users ----------------------------------------------------------------------------------------

    def user(self, user_id: str, *, for_update: bool = False) -> User | None:
        query = select(User).where(User.tenant_id == self.tenant_id, User.id == user_id)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def user_by_email(self, email: str, *, for_update: bool = False) -> User | None:
        query = select(User).where(User.tenant_id == self.tenant_id, User.email == email)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def users_named(self, *, user_ids: Collection[str], emails: Collection[str]) -> list[User]:
        """The users of ``user_ids`` and those of ``emails`` (normalised), in one query."""
        if not user_ids and not emails:
            return []
        return list(
            self.session.scalars(
                select(User).where(
                    User.tenant_id == self.tenant_id,
                    or_(User.id.in_(sorted(user_ids)), User.email.in_(sorted(emails))),
                )
            )
        )

    def users_query(
        self, *, role: str | None = None, team_id: str | None = None, disabled: bool | None = None
    ) -> Select[Any]:
        query = select(User).where(User.tenant_id == self.tenant_id)
        if role is not None:
            query = query.where(User.role == role)
        if team_id is not None:
            members = select(TeamMember.user_id).where(
                TeamMember.tenant_id == self.tenant_id, TeamMember.team_id == team_id
            )
            query = query.where(User.id.in_(members))
        if disabled is not None:
            query = query.where(User.disabled_at.is_not(None) if disabled else User.disabled_at.is_(None))
        return query

    # -- teams ----------------------------------------------------------------------------------------

    def team(self, team_id: str) -> Team | None:
        return self.session.scalar(select(Team).where(Team.tenant_id == self.tenant_id, Team.id == team_id))

    def team_by_name(self, name: str) -> Team | None:
        return self.session.scalar(select(Team).where(Team.tenant_id == self.tenant_id, Team.name == name))

    def teams(self, team_ids: Collection[str]) -> dict[str, Team]:
        if not team_ids:
            return {}
        found = self.session.scalars(
            select(Team).where(Team.tenant_id == self.tenant_id, Team.id.in_(list(team_ids)))
        )
        return {team.id: team for team in found}

    def teams_query(self) -> Select[Any]:
        return select(Team).where(Team.tenant_id == self.tenant_id)

    def team_ids_of(self, user_ids: Collection[str]) -> dict[str, list[str]]:
        """Each user's team ids, in the order they joined."""
        found: dict[str, list[str]] = {user_id: [] for user_id in user_ids}
        if not user_ids:
            return found
        rows = self.session.execute(
            select(TeamMember.user_id, TeamMember.team_id)
            .where(TeamMember.tenant_id == self.tenant_id, TeamMember.user_id.in_(list(user_ids)))
            .order_by(TeamMember.added_at, TeamMember.team_id)
        )
        for user_id, team_id in rows:
            found[user_id].append(team_id)
        return found

    def member_ids_of(self, team_ids: Collection[str]) -> dict[str, list[str]]:
        """Each team's member ids, in the order they joined."""
        found: dict[str, list[str]] = {team_id: [] for team_id in team_ids}
        if not team_ids:
            return found
        rows = self.session.execute(
            select(TeamMember.team_id, TeamMember.user_id)
            .where(TeamMember.tenant_id == self.tenant_id, TeamMember.team_id.in_(list(team_ids)))
            .order_by(TeamMember.added_at, TeamMember.user_id)
        )
        for team_id, user_id in rows:
            found[team_id].append(user_id)
        return found

    def membership(self, team_id: str, user_id: str) -> TeamMember | None:
        return self.session.scalar(
            select(TeamMember).where(
                TeamMember.tenant_id == self.tenant_id,
                TeamMember.team_id == team_id,
                TeamMember.user_id == user_id,
            )
        )

    # -- sessions and reset tokens --------------------------------------------------------------------

    def end_sessions(self, user_id: str, *, keep: str | None = None) -> int:
        """Delete the user's sessions (but ``keep``); return how many."""
        statement = delete(UserSession).where(
            UserSession.tenant_id == self.tenant_id, UserSession.user_id == user_id
        )
        if keep is not None:
            statement = statement.where(UserSession.id != keep)
        result = self.session.execute(statement.execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)

    def end_ended_sessions(self, user_id: str, *, now: datetime, idle: timedelta) -> None:
        """Delete the user's sessions that have ended (past their end, or idle too long)."""
        self.session.execute(
            delete(UserSession)
            .where(
                UserSession.tenant_id == self.tenant_id,
                UserSession.user_id == user_id,
                or_(UserSession.expires_at <= now, UserSession.last_seen_at <= now - idle),
            )
            .execution_options(synchronize_session=False)
        )

    def unused_resets(self, user_id: str, *, now: datetime) -> Sequence[PasswordReset]:
        return self.session.scalars(
            select(PasswordReset).where(
                PasswordReset.tenant_id == self.tenant_id,
                PasswordReset.user_id == user_id,
                PasswordReset.used_at.is_(None),
                PasswordReset.expires_at > now,
            )
        ).all()
