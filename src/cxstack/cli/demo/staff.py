"""The demo tenant's people: a supervisor and agents in the Support and Billing teams, who sign in with a
known password (printed and documented, so no secret: the demo is for your own machine only)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff import service
from cxstack.governance.staff.passwords import PasswordHash, hash_password
from cxstack.governance.staff.repository import StaffRepository
from cxstack.routing import config as routing
from cxstack.routing.held import Routers
from cxstack.routing.models import RoutingAgent
from cxstack.routing.schemas import AgentProfileIn, QueueIn

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


@dataclass(frozen=True)
class DemoQueue:
    name: str
    channels: tuple[str, ...]
    team: str
    skills: dict[str, int]
    escalates_to: str | None = None


#: The demo's queues: new chats, emails, texts and app messages go to Support (calls too: the phone menu's
#: "support" option names it); Support escalates to Billing.
DEMO_QUEUES = (
    DemoQueue("Billing", (), "Billing", {"billing": 2}),
    DemoQueue("Support", ("webchat", "email", "sms", "inapp"), "Support", {}, escalates_to="Billing"),
)
#: The demo agents' skills (proficiency 1-5) and languages.
DEMO_PROFILES = {
    "sam@demo.example": ({"general": 4, "billing": 2}, ("en",)),
    "priya@demo.example": ({"general": 3, "spanish": 5}, ("en", "es")),
    "leo@demo.example": ({"billing": 5}, ("en",)),
}


def ensure_routing(uow: UnitOfWork, *, tenant_id: str, created: Counter[str]) -> None:
    """Create the demo queues and the agents' routing profiles that are missing (agents start offline:
    they go available when they sign in and say so)."""
    routers = Routers()
    repo = StaffRepository(uow.session, tenant_id)
    teams = {name: team.id for name in DEMO_TEAMS if (team := repo.team_by_name(name)) is not None}
    existing = {queue.name: queue.id for queue in routing.list_queues(uow.session, tenant_id=tenant_id)}
    for position, queue in enumerate(DEMO_QUEUES):
        if queue.name in existing:
            continue
        made = routing.create_queue(
            uow,
            routers,
            tenant_id=tenant_id,
            data=QueueIn(
                name=queue.name,
                position=position,
                channels=list(queue.channels),
                skills=queue.skills,
                team_ids=[teams[queue.team]] if queue.team in teams else [],
                escalation_queue_id=existing.get(queue.escalates_to) if queue.escalates_to else None,
            ),
        )
        existing[queue.name] = made.id
        created["queues"] += 1
    for email, (skills, languages) in DEMO_PROFILES.items():
        user = repo.user_by_email(email)
        if user is None or uow.session.get(RoutingAgent, user.id) is not None:
            continue
        routing.put_agent(
            uow,
            routers,
            tenant_id=tenant_id,
            user_id=user.id,
            data=AgentProfileIn(skills=skills, languages=list(languages)),
        )
        created["routing profiles"] += 1


def user_ids(uow: UnitOfWork, *, tenant_id: str) -> dict[str, str]:
    """Return {email: user id} of the demo people (``ensure_staff`` made them)."""
    repo = StaffRepository(uow.session, tenant_id)
    uow.session.flush()
    found = {person.email: repo.user_by_email(person.email) for person in DEMO_STAFF}
    return {email: user.id for email, user in found.items() if user is not None}
