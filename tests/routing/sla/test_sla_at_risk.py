"""The SLA clocks at risk: running clocks that have warned (or fall due within a horizon asked for),
overdue and breached ones, of open conversations the caller sees, soonest due first, a page at a time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from tests.conftest import TenantKey
from tests.governance.staff.people import make_person, sign_in
from tests.records.query_plans import TENANT_ONLY, captured, plans
from tests.routing.sla.test_sla_clocks import START, advance, at, conversation, message, policy, set_status

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.governance.staff import service as staff
from cxstack.governance.staff.visibility import Visibility
from cxstack.kit.clock import FrozenClock
from cxstack.records.conversations import service as conversations
from cxstack.routing.sla import clocks
from cxstack.runtime import Runtime
from cxstack.web.app import create_app


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        handler_retry_base_seconds=0.01,
        timer_poll_seconds=0.05,
        run_workers_in_server=True,
        auth={"cookie_secure": False},
    )


async def at_risk(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    answer = await client.get("/v1/sla/at-risk", params=params)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def rows(page: dict[str, Any], names: dict[str, str]) -> list[tuple[str, str, str, float]]:
    """(conversation name, metric, state, business seconds left) of each clock of the page."""
    by_id = {conversation_id: name for name, conversation_id in names.items()}
    return [
        (by_id[item["conversation_id"]], item["metric"], item["state"], item["business_seconds_left"])
        for item in page["data"]
    ]


async def test_clocks_at_risk_are_listed_soonest_due_first_within_what_the_caller_sees(
    api: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, tenant: TenantKey
) -> None:
    await policy(api, first_response_seconds=3600, resolution_seconds=86_400, warn_before_seconds=600)
    names = {name: await conversation(api, runtime) for name in ("x", "y", "z")}
    await message(api, runtime, names["x"], "inbound")
    await message(api, runtime, names["y"], "inbound")
    await advance(runtime, clock, minutes=10)
    await message(api, runtime, names["z"], "inbound")

    # Nothing has warned yet; an hour ahead, x's and y's first responses fall due (z's ten minutes later).
    assert await at_risk(api) == {"data": [], "next_cursor": None, "total": 0}
    ahead = await at_risk(api, within_seconds=3000)
    assert rows(ahead, names) == [
        ("x", "first_response", "running", 3000),
        ("y", "first_response", "running", 3000),
    ]
    assert ahead["total"] == 2
    assert at(ahead["data"][0]["due_at"]) == START + timedelta(hours=1)
    assert {item["conversation_id"] for item in (await at_risk(api, within_seconds=86_400))["data"]} == set(
        names.values()
    )

    # Ten minutes before due, x's and y's clocks warn; y is answered in time and leaves the list.
    await advance(runtime, clock, minutes=40)
    assert rows(await at_risk(api), names) == [
        ("x", "first_response", "running", 600),
        ("y", "first_response", "running", 600),
    ]
    await message(api, runtime, names["y"], "outbound")
    assert rows(await at_risk(api), names) == [("x", "first_response", "running", 600)]

    # x breaches and stays listed until its conversation closes; z has warned meanwhile.
    await advance(runtime, clock, minutes=15)
    page = await at_risk(api)
    assert rows(page, names) == [
        ("x", "first_response", "breached", -300),
        ("z", "first_response", "running", 300),
    ]
    assert page["data"][0]["warned_at"] is not None and page["total"] == 2

    # One a page, the cursor walks the same list.
    first = await at_risk(api, limit=1)
    assert rows(first, names) == rows(page, names)[:1] and first["total"] == 2
    second = await at_risk(api, limit=1, cursor=first["next_cursor"])
    assert rows(second, names) == rows(page, names)[1:] and second["next_cursor"] is None

    # A person sees the clocks of the conversations they see only: x becomes team B's.
    team_a = await _team(runtime, tenant.tenant_id, "A")
    team_b = await _team(runtime, tenant.tenant_id, "B")

    def to_team_b(uow: UnitOfWork) -> None:
        conversations.set_teams(
            uow, tenant_id=tenant.tenant_id, conversation_id=names["x"], team_ids=[team_b]
        )

    await runtime.db.write(to_team_b)
    ann = await make_person(
        runtime, tenant.tenant_id, "ann@acme.example", "agent", "ann password 1234", [team_a]
    )
    boss = await make_person(runtime, tenant.tenant_id, "ada@acme.example", "admin", "ada password 1234")
    app = create_app(runtime, manage_runtime=False)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxstack.test") as agent,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxstack.test") as admin,
    ):
        await sign_in(agent, ann)
        await sign_in(admin, boss)
        seen = await at_risk(agent, limit=1)
        assert rows(seen, names) == [("z", "first_response", "running", 300)]
        assert seen["total"] == 1 and seen["next_cursor"] is None
        assert rows(await at_risk(admin), names) == rows(page, names)

    await set_status(api, runtime, names["x"], "closed")
    assert rows(await at_risk(api), names) == [("z", "first_response", "running", 300)]


async def _team(runtime: Runtime, tenant_id: str, name: str) -> str:
    def create(uow: UnitOfWork) -> str:
        return staff.create_team(uow, tenant_id=tenant_id, name=name).id

    return await runtime.db.write(create)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"within_seconds": -1}, "within_seconds"),
        ({"within_seconds": "soon"}, "within_seconds"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"limit": 0}, "limit"),
    ],
)
async def test_bad_parameters_answer_422_naming_them(
    api: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    answer = await api.get("/v1/sla/at-risk", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field


@pytest.mark.parametrize("within_seconds", [None, 3600])
async def test_the_clocks_at_risk_are_read_by_due_time_never_through_all_of_a_tenants(
    runtime: Runtime,
    api: httpx.AsyncClient,
    tenant: TenantKey,
    clock: FrozenClock,
    within_seconds: int | None,
) -> None:
    if runtime.db.driver != "sqlite":
        pytest.skip("the plans pinned here are SQLite's; PostgreSQL plans from statistics")
    engine = create_engine(runtime.settings.database_url)
    agent = Visibility(team_ids=frozenset({"tm_a"}), assignees=frozenset({"usr_ann"}))
    try:
        with Session(engine) as session, captured(engine, kinds=("SELECT",)) as statements:
            clocks.at_risk(
                session,
                tenant_id=tenant.tenant_id,
                now=clock.now(),
                within_seconds=within_seconds,
                visibility=agent,
                cursor=None,
                limit=50,
            )
            steps_of = plans(session.connection(), statements)
    finally:
        engine.dispose()
    at_risk_steps = [steps for statement, steps in steps_of.items() if "FROM sla_clocks" in statement]
    assert at_risk_steps
    for steps in at_risk_steps:
        assert any("SEARCH sla_clocks USING INDEX ix_sla_clocks_due" in step for step in steps), steps
    for statement, steps in steps_of.items():
        for step in steps:
            assert not step.startswith(("SCAN sla_clocks", "SCAN conversations")), f"{step}\n  in {statement}"
            assert not TENANT_ONLY.search(step), f"{step}\n  in {statement}"
