"""Making the people of the staff tests, and signing them in as a browser does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff import service
from cxstack.governance.staff.passwords import hash_password
from cxstack.runtime import Runtime

PROBLEM = "application/problem+json"
ADMIN_PASSWORD = "admin password 123"
AGENT_PASSWORD = "agent password 123"


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str
    password: str


async def make_person(
    runtime: Runtime,
    tenant_id: str,
    email: str,
    role: str,
    password: str | None,
    team_ids: list[str] | None = None,
) -> Person:
    """Add a user as ``cxstack users create`` does."""
    hashed = hash_password(password) if password is not None else None

    def create(uow: UnitOfWork) -> str:
        return service.create_user(
            uow,
            tenant_id=tenant_id,
            email=email,
            name=email.split("@")[0].title(),
            role=role,
            team_ids=team_ids or [],
            password=hashed,
        ).id

    return Person(await runtime.db.write(create), email, password or "")


async def sign_in(browser: httpx.AsyncClient, person: Person, *, tenant: str = "acme") -> str:
    """Sign ``person`` in on ``browser`` (which keeps the cookie); return the CSRF token."""
    answer = await browser.post(
        "/v1/auth/sign-in", json={"tenant": tenant, "email": person.email, "password": person.password}
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["csrf_token"]
    return token


def problem_of(answer: httpx.Response) -> dict[str, Any]:
    """The problem+json body, without what differs between any two requests."""
    assert answer.headers["content-type"] == PROBLEM, answer.text
    body: dict[str, Any] = answer.json()
    body.pop("correlation_id", None)
    return body
