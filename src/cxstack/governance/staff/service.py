"""A tenant's users and teams: adding, changing, disabling and listing them (published and audited).

Passwords arrive hashed (``passwords.hash_password``, run by the caller outside the transaction); sign-in,
sessions and password resets are in ``sessions``.
"""

from __future__ import annotations

from collections.abc import Sequence

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.audit.service import record_audit
from cxstack.governance.staff.models import Team, TeamMember, User
from cxstack.governance.staff.passwords import PasswordHash
from cxstack.governance.staff.repository import StaffRepository
from cxstack.governance.staff.schemas import (
    ROLES,
    TeamCreated,
    TeamMemberAdded,
    TeamMemberRemoved,
    TeamOut,
    UserCreated,
    UserDisabled,
    UserOut,
    UserUpdated,
)
from cxstack.governance.tenants.models import Tenant
from cxstack.kit.errors import Conflict, NotFound, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page, paginate

SUBJECT_USER = "user"
SUBJECT_TEAM = "team"


def normalise_email(value: str, *, field: str = "email") -> str:
    """Return the address lowercased (the domain in its Unicode form); raises ValidationFailed."""
    try:
        result = validate_email(value.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError as error:
        raise ValidationFailed(f"{value!r} is not a valid email address: {error}", field=field) from None
    local, _, domain = result.normalized.rpartition("@")
    return f"{local.lower()}@{domain.lower()}"


def _role(role: str) -> str:
    if role not in ROLES:
        raise ValidationFailed(
            f"unknown role {role!r}: roles are {', '.join(ROLES)}", field="role", allowed=list(ROLES)
        )
    return role


def _name(name: str) -> str:
    if not name.strip():
        raise ValidationFailed("a name must not be empty", field="name")
    return name.strip()


def _teams(repo: StaffRepository, team_ids: Sequence[str]) -> list[str]:
    """The distinct team ids in their order; raises ValidationFailed naming the first unknown one."""
    wanted = list(dict.fromkeys(team_ids))
    found = repo.teams(wanted)
    for team_id in wanted:
        if team_id not in found:
            raise ValidationFailed(f"team {team_id} does not exist", field="team_ids", team_id=team_id)
    return wanted


def user_out(repo: StaffRepository, user: User, team_ids: list[str] | None = None) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        team_ids=team_ids if team_ids is not None else repo.team_ids_of([user.id])[user.id],
        has_password=user.password_hash is not None,
        disabled_at=user.disabled_at,
        locked_until=user.locked_until,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


def _join(uow: UnitOfWork, repo: StaffRepository, *, team_id: str, user_id: str) -> None:
    uow.session.add(
        TeamMember(tenant_id=repo.tenant_id, team_id=team_id, user_id=user_id, added_at=uow.clock.now())
    )
    uow.publish(TeamMemberAdded(team_id=team_id, user_id=user_id), tenant_id=repo.tenant_id, subject=team_id)
    record_audit(
        uow,
        tenant_id=repo.tenant_id,
        action="team.member_added",
        target_type=SUBJECT_TEAM,
        target_id=team_id,
        detail={"user_id": user_id},
    )


def _leave(uow: UnitOfWork, repo: StaffRepository, membership: TeamMember) -> None:
    uow.session.delete(membership)
    uow.publish(
        TeamMemberRemoved(team_id=membership.team_id, user_id=membership.user_id),
        tenant_id=repo.tenant_id,
        subject=membership.team_id,
    )
    record_audit(
        uow,
        tenant_id=repo.tenant_id,
        action="team.member_removed",
        target_type=SUBJECT_TEAM,
        target_id=membership.team_id,
        detail={"user_id": membership.user_id},
    )


# -- users --------------------------------------------------------------------------------------------


def create_user(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    email: str,
    name: str,
    role: str,
    team_ids: Sequence[str] = (),
    password: PasswordHash | None = None,
) -> UserOut:
    """Add a user to the tenant, in ``team_ids``; without ``password`` they set one through a reset.

    Raises NotFound for an unknown tenant, ValidationFailed for a bad email, name or role or an unknown
    team, Conflict for an email the tenant already has. Publishes ``user.created`` (and
    ``team.member_added`` per team); writes audit entries of the same actions.
    """
    if uow.session.get(Tenant, tenant_id) is None:
        raise NotFound(f"tenant {tenant_id} does not exist", field="tenant_id")
    repo = StaffRepository(uow.session, tenant_id)
    address = normalise_email(email)
    name = _name(name)
    role = _role(role)
    teams = _teams(repo, team_ids)
    if repo.user_by_email(address) is not None:
        raise Conflict(f"a user with email {address} already exists", field="email")
    now = uow.clock.now()
    user = User(
        id=new_id("usr"),
        tenant_id=tenant_id,
        email=address,
        name=name,
        role=role,
        password_hash=password.value if password is not None else None,
        disabled_at=None,
        failed_sign_ins=0,
        locked_until=None,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(user)
    uow.session.flush()
    uow.publish(
        UserCreated(user_id=user.id, email=address, name=name, role=role, team_ids=teams),
        tenant_id=tenant_id,
        subject=user.id,
    )
    record_audit(
        uow,
        tenant_id=tenant_id,
        action="user.created",
        target_type=SUBJECT_USER,
        target_id=user.id,
        detail={"email": address, "name": name, "role": role, "team_ids": teams},
    )
    for team_id in teams:
        _join(uow, repo, team_id=team_id, user_id=user.id)
    return user_out(repo, user, teams)


def _existing_user(repo: StaffRepository, user_id: str, *, for_update: bool = False) -> User:
    user = repo.user(user_id, for_update=for_update)
    if user is None:
        raise NotFound(f"user {user_id} does not exist", field="user_id")
    return user


def get_user(session: Session, *, tenant_id: str, user_id: str) -> UserOut:
    """Return one of the tenant's users; raises NotFound."""
    repo = StaffRepository(session, tenant_id)
    return user_out(repo, _existing_user(repo, user_id))


def find_user_by_email(session: Session, *, tenant_id: str, email: str) -> UserOut:
    """Return the tenant's user with this email; raises ValidationFailed for a bad address, NotFound."""
    repo = StaffRepository(session, tenant_id)
    user = repo.user_by_email(normalise_email(email))
    if user is None:
        raise NotFound(f"no user has the email {email}", field="email")
    return user_out(repo, user)


def list_users(
    session: Session,
    *,
    tenant_id: str,
    role: str | None = None,
    team_id: str | None = None,
    disabled: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[UserOut]:
    """Return a page of the tenant's users, oldest first, filtered by role, team and whether disabled;
    raises ValidationFailed for an unknown role, a bad cursor or limit."""
    if role is not None:
        _role(role)
    repo = StaffRepository(session, tenant_id)
    query = repo.users_query(role=role, team_id=team_id, disabled=disabled)
    page = paginate(session, query, id_column=User.id, cursor=cursor, limit=limit)
    teams = repo.team_ids_of([user.id for user in page.items])
    return Page(items=[user_out(repo, u, teams[u.id]) for u in page.items], next_cursor=page.next_cursor)


def update_user(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    user_id: str,
    name: str | None = None,
    role: str | None = None,
    team_ids: Sequence[str] | None = None,
) -> UserOut:
    """Change a user's name, role or teams (``team_ids`` replaces them); fields left None stay.

    Raises NotFound, ValidationFailed (a bad name or role, an unknown team). Publishes ``user.updated``
    when the name or role changed, ``team.member_added`` and ``team.member_removed`` for the teams; each
    audited.
    """
    repo = StaffRepository(uow.session, tenant_id)
    user = _existing_user(repo, user_id, for_update=True)
    new_name = _name(name) if name is not None else None
    new_role = _role(role) if role is not None else None
    wanted = _teams(repo, team_ids) if team_ids is not None else None
    changes: dict[str, str] = {}
    if new_name is not None and new_name != user.name:
        changes["name"] = user.name = new_name
    if new_role is not None and new_role != user.role:
        changes["role"] = user.role = new_role
    current = repo.team_ids_of([user.id])[user.id]
    if wanted is not None:
        for team_id in current:
            if team_id not in wanted:
                membership = repo.membership(team_id, user.id)
                if membership is not None:
                    _leave(uow, repo, membership)
        for team_id in wanted:
            if team_id not in current:
                _join(uow, repo, team_id=team_id, user_id=user.id)
        uow.session.flush()
    if changes or (wanted is not None and wanted != current):
        user.updated_at = uow.clock.now()
    if changes:
        uow.publish(UserUpdated(user_id=user.id, changes=changes), tenant_id=tenant_id, subject=user.id)
        record_audit(
            uow,
            tenant_id=tenant_id,
            action="user.updated",
            target_type=SUBJECT_USER,
            target_id=user.id,
            detail=dict(changes),
        )
    return user_out(repo, user)


def disable_user(uow: UnitOfWork, *, tenant_id: str, user_id: str) -> UserOut:
    """Disable a user and end their sessions at once; disabling a disabled user changes nothing.

    Raises NotFound. Publishes ``user.disabled``; writes an audit entry (``user.disabled``).
    """
    repo = StaffRepository(uow.session, tenant_id)
    user = _existing_user(repo, user_id, for_update=True)
    if user.disabled_at is None:
        user.disabled_at = user.updated_at = uow.clock.now()
        ended = repo.end_sessions(user.id)
        uow.publish(UserDisabled(user_id=user.id), tenant_id=tenant_id, subject=user.id)
        record_audit(
            uow,
            tenant_id=tenant_id,
            action="user.disabled",
            target_type=SUBJECT_USER,
            target_id=user.id,
            detail={"email": user.email, "sessions_ended": ended},
        )
    return user_out(repo, user)


# -- teams --------------------------------------------------------------------------------------------


def _team_out(repo: StaffRepository, team: Team, member_ids: list[str] | None = None) -> TeamOut:
    members = member_ids if member_ids is not None else repo.member_ids_of([team.id])[team.id]
    return TeamOut(id=team.id, name=team.name, member_ids=members, created_at=team.created_at)


def create_team(uow: UnitOfWork, *, tenant_id: str, name: str) -> TeamOut:
    """Create a team; raises ValidationFailed for an empty name, Conflict for a name the tenant has.

    Publishes ``team.created``; writes an audit entry (``team.created``).
    """
    repo = StaffRepository(uow.session, tenant_id)
    name = _name(name)
    if repo.team_by_name(name) is not None:
        raise Conflict(f"a team named {name!r} already exists", field="name")
    team = Team(id=new_id("team"), tenant_id=tenant_id, name=name, created_at=uow.clock.now())
    uow.session.add(team)
    uow.publish(TeamCreated(team_id=team.id, name=name), tenant_id=tenant_id, subject=team.id)
    record_audit(
        uow,
        tenant_id=tenant_id,
        action="team.created",
        target_type=SUBJECT_TEAM,
        target_id=team.id,
        detail={"name": name},
    )
    return _team_out(repo, team, [])


def list_teams(
    session: Session, *, tenant_id: str, cursor: str | None = None, limit: int = 50
) -> Page[TeamOut]:
    """Return a page of the tenant's teams with their members, oldest first; raises ValidationFailed."""
    repo = StaffRepository(session, tenant_id)
    page = paginate(session, repo.teams_query(), id_column=Team.id, cursor=cursor, limit=limit)
    members = repo.member_ids_of([team.id for team in page.items])
    return Page(items=[_team_out(repo, t, members[t.id]) for t in page.items], next_cursor=page.next_cursor)


def find_team_ids(session: Session, *, tenant_id: str, names: Sequence[str]) -> list[str]:
    """Return the ids of the tenant's teams with these names; raises ValidationFailed for an unknown one."""
    repo = StaffRepository(session, tenant_id)
    found: list[str] = []
    for name in names:
        team = repo.team_by_name(name.strip())
        if team is None:
            raise ValidationFailed(f"no team is named {name!r}", field="team")
        found.append(team.id)
    return found


def _existing_team(repo: StaffRepository, team_id: str) -> Team:
    team = repo.team(team_id)
    if team is None:
        raise NotFound(f"team {team_id} does not exist", field="team_id")
    return team


def add_team_member(uow: UnitOfWork, *, tenant_id: str, team_id: str, user_id: str) -> TeamOut:
    """Add a user to a team (a member already changes nothing); raises NotFound for an unknown team,
    ValidationFailed for an unknown user. Publishes ``team.member_added``; audited."""
    repo = StaffRepository(uow.session, tenant_id)
    team = _existing_team(repo, team_id)
    if repo.user(user_id) is None:
        raise ValidationFailed(f"user {user_id} does not exist", field="user_id")
    if repo.membership(team_id, user_id) is None:
        _join(uow, repo, team_id=team_id, user_id=user_id)
        uow.session.flush()
    return _team_out(repo, team)


def remove_team_member(uow: UnitOfWork, *, tenant_id: str, team_id: str, user_id: str) -> TeamOut:
    """Remove a user from a team; raises NotFound for an unknown team or a user not in it. Publishes
    ``team.member_removed``; audited."""
    repo = StaffRepository(uow.session, tenant_id)
    team = _existing_team(repo, team_id)
    membership = repo.membership(team_id, user_id)
    if membership is None:
        raise NotFound(f"user {user_id} is not a member of team {team_id}", field="user_id")
    _leave(uow, repo, membership)
    uow.session.flush()
    return _team_out(repo, team)
