"""Workspace fixtures: a desk of the ``acme`` tenant with two teams, their people signed in on clients of
their own, a customer and conversations of team A, of team B and of no team."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest
from tests.conftest import TenantKey
from tests.governance.staff.people import make_person, sign_in

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff import service as staff
from cxstack.records.conversations import service as conversations
from cxstack.runtime import Runtime
from cxstack.web.app import create_app

BASE_URL = "https://cxstack.test"
#: Who works at the desk: (email, role, teams).
PEOPLE = {
    "admin": ("ada@acme.example", "admin", ()),
    "supervisor": ("sue@acme.example", "supervisor", ("A",)),
    "agent_a": ("ann@acme.example", "agent", ("A",)),
    "agent_a2": ("abe@acme.example", "agent", ("A",)),
    "agent_b": ("bob@acme.example", "agent", ("B",)),
}


@dataclass
class Desk:
    runtime: Runtime
    tenant: TenantKey
    #: The tenant's key.
    api: httpx.AsyncClient
    #: Each person signed in on a client of their own (cookie and CSRF token set).
    browsers: dict[str, httpx.AsyncClient]
    user_ids: dict[str, str]
    teams: dict[str, str]
    customer_id: str
    #: "a": team A's, "b": team B's, "open": no team's.
    conversations: dict[str, str]


async def _write(runtime: Runtime, fn: object) -> str:
    result: str = await runtime.db.write(fn)  # type: ignore[arg-type]
    return result


@pytest.fixture
async def desk(runtime: Runtime, tenant: TenantKey) -> AsyncIterator[Desk]:
    app = create_app(runtime, manage_runtime=False)
    teams: dict[str, str] = {}
    for name in ("A", "B"):

        def team(uow: UnitOfWork, name: str = name) -> str:
            return staff.create_team(uow, tenant_id=tenant.tenant_id, name=name).id

        teams[name] = await runtime.db.write(team)
    async with AsyncExitStack() as stack:
        api = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=tenant.headers
            )
        )
        browsers: dict[str, httpx.AsyncClient] = {}
        user_ids: dict[str, str] = {}
        for key, (email, role, team_names) in PEOPLE.items():
            person = await make_person(
                runtime,
                tenant.tenant_id,
                email,
                role,
                f"{key} password 1234",
                [teams[name] for name in team_names],
            )
            browser = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
            )
            browser.headers["X-CSRF-Token"] = await sign_in(browser, person)
            browsers[key], user_ids[key] = browser, person.user_id
        customer = await api.post("/v1/customers", json={"name": "Carol Jones", "email": "carol@example.com"})
        assert customer.status_code == 201, customer.text
        customer_id = customer.json()["id"]
        made: dict[str, str] = {}
        for key, team_ids in (("a", [teams["A"]]), ("b", [teams["B"]]), ("open", [])):
            answer = await api.post(
                "/v1/conversations",
                json={"customer_id": customer_id, "channel": "email", "subject": f"Refund {key}"},
            )
            assert answer.status_code == 201, answer.text
            made[key] = answer.json()["id"]

            def route(
                uow: UnitOfWork, conversation_id: str = made[key], team_ids: list[str] = team_ids
            ) -> None:
                conversations.set_teams(
                    uow, tenant_id=tenant.tenant_id, conversation_id=conversation_id, team_ids=team_ids
                )

            await runtime.db.write(route)
        yield Desk(runtime, tenant, api, browsers, user_ids, teams, customer_id, made)
