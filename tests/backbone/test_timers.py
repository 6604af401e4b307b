"""Durable timers: a timer publishes its event once, after its time, even across a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cxstack.backbone.envelope import Event
from cxstack.backbone.events import EventPayload
from cxstack.backbone.log import read_events
from cxstack.backbone.models import Timer
from cxstack.backbone.subscriptions import SubscriptionRegistry
from cxstack.backbone.timers import cancel_timer, fire_due_timers, schedule_timer
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.kit.clock import FrozenClock
from cxstack.kit.errors import UnknownEventType
from cxstack.records.customers.schemas import CustomerUpdated
from cxstack.runtime import Runtime

TENANT = "ten_timers"
START = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The runtime's bus runs the timers (on the frozen clock); no subscriptions beside them."""
    return settings.model_copy(update={"run_workers_in_server": True})


@pytest.fixture
def subscriptions() -> SubscriptionRegistry:
    return SubscriptionRegistry()


def schedule(key: str, fire_at: datetime, note: str = "") -> Callable[[UnitOfWork], Timer]:
    def write(uow: UnitOfWork) -> Timer:
        return schedule_timer(
            uow,
            tenant_id=TENANT,
            key=key,
            fire_at=fire_at,
            subject=f"cus_{key}",
            event=CustomerUpdated(customer_id=f"cus_{key}", changes={"note": note}),
        )

    return write


async def fired_events(runtime: Runtime) -> list[Event]:
    return await runtime.db.read(lambda session: read_events(session, after=0, limit=1000))


async def timer_row(runtime: Runtime, key: str) -> Timer | None:
    def query(session: Session) -> Timer | None:
        return session.scalar(select(Timer).where(Timer.tenant_id == TENANT, Timer.key == key))

    return await runtime.db.read(query)


async def wait_for(check: Callable[[], Awaitable[bool]], timeout_s: float = 10) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"still not so after {timeout_s} s")


async def fire_now(runtime: Runtime) -> None:
    """Run one round of the timers besides the bus's own (firing twice would show in the log)."""
    await runtime.db.write(fire_due_timers)


async def test_a_timer_fires_its_event_once_after_its_time(runtime: Runtime, clock: FrozenClock) -> None:
    timer = await runtime.db.write(schedule("sla", START + timedelta(minutes=10), "breach"))

    clock.advance(timedelta(minutes=9, seconds=59))
    await fire_now(runtime)
    assert await fired_events(runtime) == []

    clock.advance(timedelta(seconds=1))
    await wait_for(lambda: _has_events(runtime, 1))  # the bus's own timer task fires it
    await fire_now(runtime)
    await asyncio.sleep(0.2)  # a few more rounds of the bus's timer task

    [event] = await fired_events(runtime)
    assert (event.type, event.subject, event.tenant) == ("customer.updated", "cus_sla", TENANT)
    assert event.data == {"customer_id": "cus_sla", "changes": {"note": "breach"}, "version": None}
    assert event.causationid == timer.id
    assert event.time == START + timedelta(minutes=10)
    row = await timer_row(runtime, "sla")
    assert row is not None
    assert (row.fired_at, row.fired_event_id) == (START + timedelta(minutes=10), event.id)


async def test_rescheduling_a_timer_moves_it(runtime: Runtime, clock: FrozenClock) -> None:
    await runtime.db.write(schedule("follow-up", START + timedelta(minutes=10), "first"))
    await runtime.db.write(schedule("follow-up", START + timedelta(minutes=20), "moved"))

    clock.advance(timedelta(minutes=15))
    await fire_now(runtime)
    assert await fired_events(runtime) == []

    clock.advance(timedelta(minutes=5))
    await fire_now(runtime)
    [event] = await fired_events(runtime)
    assert event.data["changes"] == {"note": "moved"}


async def test_a_cancelled_timer_never_fires(runtime: Runtime, clock: FrozenClock) -> None:
    await runtime.db.write(schedule("snooze", START + timedelta(minutes=10)))

    assert await runtime.db.write(lambda uow: cancel_timer(uow, tenant_id=TENANT, key="snooze")) is True
    clock.advance(timedelta(hours=1))
    await fire_now(runtime)
    await asyncio.sleep(0.2)

    assert await fired_events(runtime) == []
    assert await timer_row(runtime, "snooze") is None
    assert await runtime.db.write(lambda uow: cancel_timer(uow, tenant_id=TENANT, key="snooze")) is False


async def test_a_timer_scheduled_before_a_restart_fires_after_it(
    runtime: Runtime, settings: Settings, subscriptions: SubscriptionRegistry, clock: FrozenClock
) -> None:
    await runtime.db.write(schedule("offer", START + timedelta(minutes=10)))
    await runtime.stop()

    clock.advance(timedelta(minutes=30))
    restarted = Runtime.build(settings, subscriptions=subscriptions, clock=clock)
    await restarted.start()
    try:
        await wait_for(lambda: _has_events(restarted, 1))
        [event] = await fired_events(restarted)
        assert event.subject == "cus_offer"
    finally:
        await restarted.stop()


async def test_a_timer_whose_event_no_longer_validates_does_not_hold_up_the_others(
    runtime: Runtime, clock: FrozenClock
) -> None:
    await runtime.db.write(schedule("stale", START + timedelta(minutes=1)))
    await runtime.db.write(schedule("fine", START + timedelta(minutes=2)))
    # As after an upgrade that changed the event's payload model: the stored payload no longer validates.
    await runtime.db.write(
        lambda uow: uow.session.execute(
            update(Timer).where(Timer.key == "stale").values(payload={"customer_id": "cus_stale"})
        )
    )

    clock.advance(timedelta(minutes=5))
    await wait_for(lambda: _has_events(runtime, 1))

    [event] = await fired_events(runtime)
    assert event.subject == "cus_fine"
    stale = await timer_row(runtime, "stale")
    assert stale is not None and stale.fired_at is None
    # Marked failed, with what went wrong, and no longer among the due timers (so however many there are,
    # they never hold up the others).
    assert stale.failed_at is not None and "InvalidEventPayload" in (stale.error or "")
    assert await runtime.db.write(fire_due_timers) == 0

    # Scheduling it anew, with a payload that validates, makes it due again.
    await runtime.db.write(schedule("stale", START + timedelta(minutes=6)))
    clock.advance(timedelta(minutes=2))
    await wait_for(lambda: _has_events(runtime, 2))
    assert {e.subject for e in await fired_events(runtime)} == {"cus_fine", "cus_stale"}


class CustomerExploded(EventPayload, type="customer.exploded"):
    """An event no catalog has."""

    customer_id: str


async def test_scheduling_a_timer_with_an_event_not_in_the_catalog_raises(runtime: Runtime) -> None:
    def write(uow: UnitOfWork) -> None:
        schedule_timer(
            uow,
            tenant_id=TENANT,
            key="bad",
            fire_at=START,
            subject="cus_bad",
            event=CustomerExploded(customer_id="cus_bad"),
        )

    with pytest.raises(UnknownEventType):
        await runtime.db.write(write)
    assert await timer_row(runtime, "bad") is None


async def _has_events(runtime: Runtime, count: int) -> bool:
    return len(await fired_events(runtime)) >= count
