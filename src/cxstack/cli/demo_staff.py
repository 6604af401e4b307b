"""The demo tenant's people: a supervisor and agents in the Support and Billing teams, who sign in with a
known password (printed and documented, so no secret: the demo is for your own machine only)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff import service
from cxstack.governance.staff.passwords import PasswordHash, hash_password
from cxstack.governance.staff.repository import StaffRepository

#: The password of every demo person.
DEMO_STAFF_PASSWORD = "demo-password-not-secret"
DEMO_TEAMS = ("Support", "Billing")


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    role: str
    teams: tuple[str, ...]


DEMO_STAFF = (
    DemoPerson("morgan@demo.example", "Morgan Lee", "supervisor", ("Support", "Billing")),
    DemoPerson("sam@demo.example", "Sam Rivera", "agent", ("Support",)),
    DemoPerson("priya@demo.example", "Priya Shah", "agent", ("Support",)),
    DemoPerson("leo@demo.example", "Leo Martin", "agent", ("Billing",)),
)


def demo_password_hashes() -> dict[str, PasswordHash]:
    """Each demo person's password hash, made before the seeding transaction (hashing takes a while)."""
    return {person.email: hash_password(DEMO_STAFF_PASSWORD) for person in DEMO_STAFF}


def ensure_staff(
    uow: UnitOfWork, *, tenant_id: str, passwords: dict[str, PasswordHash], created: Counter[str]
) -> None:
    """Create the demo teams and people that are missing (by name and email)."""
    repo = StaffRepository(uow.session, tenant_id)
    team_ids: dict[str, str] = {}
    for name in DEMO_TEAMS:
        team = repo.team_by_name(name)
        if team is None:
            team_ids[name] = service.create_team(uow, tenant_id=tenant_id, name=name).id
            created["teams"] += 1
        else:
            team_ids[name] = team.id
    uow.session.flush()
    for person in DEMO_STAFF:
        if repo.user_by_email(person.email) is not None:
            continue
        service.create_user(
            uow,
            tenant_id=tenant_id,
            email=person.email,
            name=person.name,
            role=person.role,
            team_ids=[team_ids[team] for team in person.teams],
            password=passwords[person.email],
        )
        created["people"] += 1
