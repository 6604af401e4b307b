"""SLA clocks of conversations: started by the customer's messages, met by agents' answers, paused while
the conversation waits on the customer, and breached by durable timers exactly once, across restarts too."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.backbone.inspection import subscription_statuses
from cxstack.backbone.models import EventRecord
from cxstack.backbone.timers import fire_due_timers
from cxstack.config import Settings
from cxstack.kit.clock import FrozenClock
from cxstack.runtime import Runtime

#: A Monday.
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SLA_EVENTS = ("sla.warned", "sla.breached", "sla.met")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"run_workers_in_server": True})


async def sla_events(runtime: Runtime) -> list[tuple[str, str, dict[str, Any]]]:
    """The (type, subject, data) of every SLA event in the log, in order."""

    def query(session: Session) -> list[tuple[str, str, dict[str, Any]]]:
        rows = session.scalars(
            select(EventRecord).where(EventRecord.type.in_(SLA_EVENTS)).order_by(EventRecord.seq)
        )
        return [(row.type, row.subject, row.data) for row in rows]

    return await runtime.db.read(query)


async def settle(runtime: Runtime) -> None:
    """Fire the timers due now and wait until every subscription has handled every event (the bus's own
    task may be handling some of them meanwhile)."""
    assert runtime.bus is not None
    bus = runtime.bus
    await bus.drain()
    await runtime.db.write(fire_due_timers)
    partitions = runtime.db.partitions
    for _ in range(500):
        await bus.drain()
        statuses = await runtime.db.read(
            lambda session: subscription_statuses(session, registry=bus.registry, partitions=partitions)
        )
        if all(status.lag == 0 and status.parked == 0 for status in statuses):
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"events still unhandled: {statuses}")


async def advance(runtime: Runtime, clock: FrozenClock, **delta: float) -> None:
    clock.advance(timedelta(**delta))
    await settle(runtime)


async def policy(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await api.post("/v1/sla/policies", json={"name": "Default", **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def conversation(api: httpx.AsyncClient, runtime: Runtime, **fields: Any) -> str:
    customer = await api.post("/v1/customers", json={"name": "Ada", "attributes": fields.pop("customer", {})})
    assert customer.status_code == 201, customer.text
    response = await api.post(
        "/v1/conversations", json={"customer_id": customer.json()["id"], "channel": "email", **fields}
    )
    assert response.status_code == 201, response.text
    await settle(runtime)
    conversation_id: str = response.json()["id"]
    return conversation_id


async def message(
    api: httpx.AsyncClient, runtime: Runtime, conversation_id: str, direction: str, **extra: Any
) -> None:
    response = await api.post(
        f"/v1/conversations/{conversation_id}/messages", json={"direction": direction, "body": "hi", **extra}
    )
    assert response.status_code == 201, response.text
    await settle(runtime)


async def set_status(api: httpx.AsyncClient, runtime: Runtime, conversation_id: str, status: str) -> None:
    response = await api.patch(f"/v1/conversations/{conversation_id}", json={"status": status})
    assert response.status_code == 200, response.text
    await settle(runtime)


async def clocks(api: httpx.AsyncClient, conversation_id: str) -> dict[str, dict[str, Any]]:
    """The conversation's clocks by metric (the newest of each)."""
    response = await api.get(f"/v1/conversations/{conversation_id}/sla")
    assert response.status_code == 200, response.text
    return {clock["metric"]: clock for clock in response.json()["clocks"]}


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_an_answer_in_time_meets_the_first_response_target_and_nothing_breaches(
    api: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock
) -> None:
    sla = await policy(api, first_response_seconds=3600, resolution_seconds=86_400, warn_before_seconds=600)
    conversation_id = await conversation(api, runtime)
    assert set(await clocks(api, conversation_id)) == {"resolution"}

    await message(api, runtime, conversation_id, "inbound")
    first = (await clocks(api, conversation_id))["first_response"]
    assert (first["state"], at(first["due_at"]), first["business_seconds_left"]) == (
        "running",
        START + timedelta(hours=1),
        3600,
    )

    await advance(runtime, clock, minutes=20)
    await message(api, runtime, conversation_id, "outbound")
    first = (await clocks(api, conversation_id))["first_response"]
    assert (first["state"], at(first["stopped_at"])) == ("met", START + timedelta(minutes=20))

    await advance(runtime, clock, hours=2)
    assert await sla_events(runtime) == [
        (
            "sla.met",
            conversation_id,
            {
                "clock_id": first["id"],
                "conversation_id": conversation_id,
                "policy_id": sla["id"],
                "metric": "first_response",
                "due_at": (START + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
                "met_at": (START + timedelta(minutes=20)).isoformat().replace("+00:00", "Z"),
            },
        )
    ]


async def test_an_unanswered_message_warns_then_breaches_once(
    api: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock
) -> None:
    sla = await policy(api, first_response_seconds=3600, warn_before_seconds=600)
    conversation_id = await conversation(api, runtime)
    await message(api, runtime, conversation_id, "inbound")

    await advance(runtime, clock, minutes=49)
    assert await sla_events(runtime) == []
    await advance(runtime, clock, minutes=1)
    assert [event[0] for event in await sla_events(runtime)] == ["sla.warned"]
    assert (await clocks(api, conversation_id))["first_response"]["warned_at"] is not None

    await advance(runtime, clock, minutes=10)
    await advance(runtime, clock, minutes=30)
    events = await sla_events(runtime)
    assert [event[0] for event in events] == ["sla.warned", "sla.breached"]
    breached = events[1][2]
    assert (breached["policy_id"], breached["metric"], breached["conversation_id"]) == (
        sla["id"],
        "first_response",
        conversation_id,
    )
    assert at(breached["due_at"]) == START + timedelta(hours=1)
    first = (await clocks(api, conversation_id))["first_response"]
    assert (first["state"], first["business_seconds_left"]) == ("breached", None)

    # A late answer changes nothing: the clock stays breached, and nothing says it was met.
    await message(api, runtime, conversation_id, "outbound")
    assert (await clocks(api, conversation_id))["first_response"]["state"] == "breached"
    assert [event[0] for event in await sla_events(runtime)] == ["sla.warned", "sla.breached"]


async def test_the_customers_reply_after_an_answer_starts_the_next_response_clock(
    api: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock
) -> None:
    await policy(api, first_response_seconds=3600, next_response_seconds=1800)
    conversation_id = await conversation(api, runtime)
    await message(api, runtime, conversation_id, "inbound")
    await message(api, runtime, conversation_id, "outbound")
    # A bot's message or an internal note is no answer.
    await advance(runtime, clock, minutes=5)
    await message(api, runtime, conversation_id, "inbound")
    await message(api, runtime, conversation_id, "outbound", author_kind="bot")
    await message(api, runtime, conversation_id, "inbound")  # writing twice starts no second clock

    found = await clocks(api, conversation_id)
    assert (found["next_response"]["state"], at(found["next_response"]["due_at"])) == (
        "running",
        START + timedelta(minutes=35),
    )
    await advance(runtime, clock, minutes=10)
    await message(api, runtime, conversation_id, "outbound")
    assert (await clocks(api, conversation_id))["next_response"]["state"] == "met"
    response = await api.get(f"/v1/conversations/{conversation_id}/sla")
    assert [c["metric"] for c in response.json()["clocks"]] == ["first_response", "next_response"]


async def test_waiting_on_the_customer_pauses_the_clocks_and_their_reply_resumes_them(
    api: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock
) -> None:
    await policy(api, first_response_seconds=3600, resolution_seconds=4 * 3600)
    conversation_id = await conversation(api, runtime)
    await message(api, runtime, conversation_id, "inbound")

    await advance(runtime, clock, minutes=20)
    await set_status(api, runtime, conversation_id, "pending")
    paused = await clocks(api, conversation_id)
    assert {metric: c["state"] for metric, c in paused.items()} == {
        "resolution": "paused",
        "first_response": "paused",
    }
    assert (paused["first_response"]["business_seconds_left"], paused["first_response"]["due_at"]) == (
        2400,
        None,
    )

    await advance(runtime, clock, hours=5)  # past both due times had they run on
    assert await sla_events(runtime) == []

    await message(api, runtime, conversation_id, "inbound")  # the customer answers: open again
    resumed = await clocks(api, conversation_id)
    now = START + timedelta(hours=5, minutes=20)
    assert resumed["first_response"]["state"] == "running"
    assert at(resumed["first_response"]["due_at"]) == now + timedelta(minutes=40)
    assert at(resumed["resolution"]["due_at"]) == now + timedelta(hours=3, minutes=40)

    await advance(runtime, clock, minutes=40)
    assert [(e[0], e[2]["metric"]) for e in await sla_events(runtime)] == [("sla.breached", "first_response")]


async def test_due_times_count_business_hours_of_the_policys_calendar(
    api: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock
) -> None:
    calendar = await api.post(
        "/v1/sla/calendars",
        json={
            "name": "London",
            "timezone": "Europe/London",
            "hours": {
                day: [{"start": "09:00", "end": "17:00"}] for day in ("mon", "tue", "wed", "thu", "fri")
            },
            "holidays": [{"date": "2026-03-09"}],
        },
    )
    assert calendar.status_code == 201, calendar.text
    await policy(api, first_response_seconds=3600, calendar_id=calendar.json()["id"])
    clock.advance(timedelta(days=4, hours=6, minutes=30))  # Friday 16:30
    conversation_id = await conversation(api, runtime)
    await message(api, runtime, conversation_id, "inbound")

    first = (await clocks(api, conversation_id))["first_response"]
    # Half an hour on Friday; Monday is a holiday; the rest on Tuesday morning.
    assert at(first["due_at"]) == datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
    await advance(runtime, clock, hours=24)  # Saturday: no business time passes
    assert (await clocks(api, conversation_id))["first_response"]["business_seconds_left"] == 1800


async def test_closing_meets_the_resolution_target_and_cancels_an_unanswered_response_clock(
    api: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock
) -> None:
    await policy(api, first_response_seconds=3600, resolution_seconds=7200)
    conversation_id = await conversation(api, runtime)
    await message(api, runtime, conversation_id, "inbound")
    await advance(runtime, clock, minutes=30)
    await set_status(api, runtime, conversation_id, "closed")

    found = await clocks(api, conversation_id)
    assert (found["resolution"]["state"], found["first_response"]["state"]) == ("met", "cancelled")
    await advance(runtime, clock, hours=3)
    assert [(e[0], e[2]["metric"]) for e in await sla_events(runtime)] == [("sla.met", "resolution")]


async def test_reopening_starts_a_new_resolution_clock_and_the_next_message_a_response_clock(
    api: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock
) -> None:
    await policy(api, first_response_seconds=3600, next_response_seconds=1800, resolution_seconds=7200)
    urgent = await policy(api, name="Urgent", priority="urgent", resolution_seconds=600)
    conversation_id = await conversation(api, runtime)
    await message(api, runtime, conversation_id, "inbound")
    await message(api, runtime, conversation_id, "outbound")
    await set_status(api, runtime, conversation_id, "closed")
    first_resolution = (await clocks(api, conversation_id))["resolution"]
    assert first_resolution["state"] == "met"

    await advance(runtime, clock, hours=1)
    changed = await api.patch(f"/v1/conversations/{conversation_id}", json={"priority": "urgent"})
    assert changed.status_code == 200, changed.text
    await set_status(api, runtime, conversation_id, "open")
    sla = (await api.get(f"/v1/conversations/{conversation_id}/sla")).json()
    assert sla["policy_id"] == urgent["id"]
    resolutions = [c for c in sla["clocks"] if c["metric"] == "resolution"]
    assert [c["state"] for c in resolutions] == ["met", "running"]
    assert resolutions[1]["business_seconds_left"] == 600

    await message(api, runtime, conversation_id, "inbound")
    assert "next_response" not in await clocks(api, conversation_id)  # the urgent policy has no such target
    await advance(runtime, clock, minutes=11)
    breached = [(e[0], e[2]["metric"]) for e in await sla_events(runtime) if e[0] == "sla.breached"]
    assert breached == [("sla.breached", "resolution")]


async def test_the_policy_is_matched_on_the_customers_tier_and_the_queue(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await policy(api, resolution_seconds=86_400)
    gold = await policy(api, name="Gold", customer_tier="gold", resolution_seconds=3600)
    billing = await policy(api, name="Billing", queue_id="billing", resolution_seconds=600)

    async def policy_of(conversation_id: str) -> str:
        response = await api.get(f"/v1/conversations/{conversation_id}/sla")
        found: str = response.json()["policy_id"]
        return found

    assert await policy_of(await conversation(api, runtime, customer={"tier": "gold"})) == gold["id"]
    in_queue = await conversation(api, runtime, customer={"tier": "gold"}, attributes={"queue_id": "billing"})
    assert await policy_of(in_queue) == billing["id"]


async def test_a_conversation_without_a_policy_has_no_clocks(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    conversation_id = await conversation(api, runtime)
    await message(api, runtime, conversation_id, "inbound")
    response = await api.get(f"/v1/conversations/{conversation_id}/sla")
    assert response.json() == {"conversation_id": conversation_id, "policy_id": None, "clocks": []}
    missing = await api.get("/v1/conversations/cnv_01J00000000000000000000000/sla")
    assert missing.status_code == 404


async def test_a_breach_due_while_no_process_runs_is_published_once_after_the_restart(
    api: httpx.AsyncClient, runtime: Runtime, settings: Settings, clock: FrozenClock
) -> None:
    await policy(api, first_response_seconds=3600)
    conversation_id = await conversation(api, runtime)
    await message(api, runtime, conversation_id, "inbound")
    await advance(runtime, clock, minutes=30)
    await runtime.stop()

    clock.advance(timedelta(hours=2))
    restarted = Runtime.build(settings, clock=clock)
    await restarted.start()
    try:
        for _ in range(500):
            if await sla_events(restarted):
                break
            await asyncio.sleep(0.02)
        await settle(restarted)
        await asyncio.sleep(0.3)  # more rounds of the restarted process's own timer task
        await settle(restarted)
        events = await sla_events(restarted)
        assert [(e[0], e[1], e[2]["metric"]) for e in events] == [
            ("sla.breached", conversation_id, "first_response")
        ]
        assert at(events[0][2]["due_at"]) == START + timedelta(hours=1)
    finally:
        await restarted.stop()


async def test_raising_the_priority_puts_the_live_clocks_under_the_stricter_policy(
    api: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock
) -> None:
    await policy(api, first_response_seconds=3600, resolution_seconds=86_400)
    urgent = await policy(api, name="Urgent", priority="urgent", first_response_seconds=900)
    conversation_id = await conversation(api, runtime)
    await message(api, runtime, conversation_id, "inbound")

    await advance(runtime, clock, minutes=5)
    response = await api.patch(f"/v1/conversations/{conversation_id}", json={"priority": "urgent"})
    assert response.status_code == 200, response.text
    await settle(runtime)

    found = await clocks(api, conversation_id)
    # The five minutes counted stay; the urgent target applies from now. It has no resolution target.
    assert (found["first_response"]["policy_id"], at(found["first_response"]["due_at"])) == (
        urgent["id"],
        START + timedelta(minutes=15),
    )
    assert found["resolution"]["state"] == "cancelled"
    await advance(runtime, clock, minutes=10)
    assert [(e[0], e[2]["policy_id"]) for e in await sla_events(runtime)] == [("sla.breached", urgent["id"])]
