"""Delivering the log to subscriptions: once each, in order per subject, with retries and dead letters."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, delete, select, update
from sqlalchemy import event as sql_event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cxstack.backbone import delivery
from cxstack.backbone.consumer import Bus
from cxstack.backbone.delivery import reset_subscription, retry_dead_letter
from cxstack.backbone.envelope import Event
from cxstack.backbone.events import EventPayload
from cxstack.backbone.log import read_events
from cxstack.backbone.models import ParkedDelivery, ProcessedEvent, SubscriptionPosition
from cxstack.backbone.subscriptions import EventHandlers, PayloadHandler, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.governance.audit.models import AuditEntry
from cxstack.governance.audit.service import record_audit
from cxstack.kit.clock import FrozenClock
from cxstack.records.customers.schemas import CustomerCreated, CustomerUpdated, IdentityLinked
from cxstack.runtime import Runtime

TENANT = "ten_delivery"
HANDLED = "test.handled"
MAX_ATTEMPTS = 3


class HandlerFailed(Exception):
    """What the test handler raises when told to fail."""


@dataclass
class Recorder:
    """What the test subscriptions saw, and how they are told to misbehave."""

    #: Every call of the recording handler, in call order, including calls whose effects rolled back.
    calls: list[Event] = field(default_factory=list)
    #: Event ids whose handling fails this many more times.
    failures_left: Counter[str] = field(default_factory=Counter)
    #: Event ids whose handling always fails.
    broken: set[str] = field(default_factory=set)
    #: Event ids whose handling fails on these calls (1 is the first), and only on them.
    fail_on_call: dict[str, set[int]] = field(default_factory=dict)
    #: Subjects whose follow-up publication is followed by a failure.
    publish_then_fail: set[str] = field(default_factory=set)
    resets: int = 0

    def called(self, subject: str | None = None) -> list[str]:
        return [event.id for event in self.calls if subject is None or event.subject == subject]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2025, 1, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Handlers run on the test's own bus (below), driven round by round, on the frozen clock."""
    return settings.model_copy(
        update={
            "run_workers_in_server": False,
            "handler_max_attempts": MAX_ATTEMPTS,
            "handler_retry_base_seconds": 1.0,
        }
    )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def subscriptions(recorder: Recorder) -> SubscriptionRegistry:
    def record(uow: UnitOfWork, _data: EventPayload, event: Event) -> None:
        recorder.calls.append(event)
        record_audit(
            uow,
            tenant_id=event.tenant,
            action=HANDLED,
            target_type="event",
            target_id=event.id,
            detail={"subject": event.subject, "seq": event.seq},
        )
        if event.id in recorder.broken:
            raise HandlerFailed(f"always fails on {event.id}")
        if recorder.called().count(event.id) in recorder.fail_on_call.get(event.id, set()):
            raise HandlerFailed(f"fails this time on {event.id}")
        if recorder.failures_left[event.id] > 0:
            recorder.failures_left[event.id] -= 1
            raise HandlerFailed(f"fails on {event.id} ({recorder.failures_left[event.id]} more)")

    def drop_projection(uow: UnitOfWork) -> None:
        recorder.resets += 1
        uow.session.execute(delete(AuditEntry).where(AuditEntry.action == HANDLED))

    def follow_up(uow: UnitOfWork, _data: EventPayload, event: Event) -> None:
        uow.publish(
            CustomerUpdated(customer_id=event.subject, changes={"followed": event.id}),
            tenant_id=event.tenant,
            subject=event.subject,
        )
        if event.subject in recorder.publish_then_fail:
            raise HandlerFailed("fails after publishing")

    registry = SubscriptionRegistry()
    registry.add("test.recorder", EventHandlers({CustomerUpdated: record}), reset=drop_projection)
    registry.add("test.follow_up", EventHandlers({CustomerCreated: follow_up}))
    return registry


@pytest.fixture
def bus(runtime: Runtime, subscriptions: SubscriptionRegistry) -> Bus:
    """A bus over the test subscriptions that delivers only when the test says so."""
    assert runtime.bus is None
    return Bus(runtime.db, subscriptions, policy=runtime.retry_policy, batch_size=50)


async def publish(
    runtime: Runtime, *subjects: str, event: type[CustomerUpdated | CustomerCreated] = CustomerUpdated
) -> list[str]:
    """Publish one event of class ``event`` per subject, in one unit of work; return their ids."""

    def write(uow: UnitOfWork) -> list[str]:
        ids = []
        for n, subject in enumerate(subjects):
            data: CustomerUpdated | CustomerCreated
            if event is CustomerUpdated:
                data = CustomerUpdated(customer_id=subject, changes={"n": n})
            else:
                data = CustomerCreated(
                    customer_id=subject, name=None, email=None, phone=None, account_id=None
                )
            ids.append(uow.publish(data, tenant_id=TENANT, subject=subject).id)
        return ids

    return await runtime.db.write(write)


async def rounds(bus: Bus, count: int = 4) -> None:
    """Run ``count`` delivery rounds of every subscription (new events, then due retries)."""
    for _ in range(count):
        for subscription in bus.registry:
            await bus.deliver_once(subscription)


async def effects(runtime: Runtime) -> Counter[str]:
    """How many times each event's handling committed its effect."""

    def query(session: Session) -> Counter[str]:
        return Counter(session.scalars(select(AuditEntry.target_id).where(AuditEntry.action == HANDLED)))

    return await runtime.db.read(query)


async def parked(runtime: Runtime) -> list[ParkedDelivery]:
    def query(session: Session) -> list[ParkedDelivery]:
        return list(session.scalars(select(ParkedDelivery).order_by(ParkedDelivery.event_seq)))

    return await runtime.db.read(query)


async def test_every_event_reaches_a_running_subscriber_once_in_per_subject_order(
    runtime: Runtime, bus: Bus, recorder: Recorder
) -> None:
    await bus.start()
    try:
        subjects = [f"cus_{n:02d}" for n in range(20)]
        # 60 units of work of 10 events each, committed concurrently, subjects interleaved.
        writes = [publish(runtime, *(subjects[(w + k) % 20] for k in range(10))) for w in range(60)]
        published = [event_id for ids in await asyncio.gather(*writes) for event_id in ids]
        for _ in range(1500):
            if len(recorder.calls) >= len(published):
                break
            await asyncio.sleep(0.02)
        await bus.drain()
    finally:
        await bus.stop()

    assert sorted(recorder.called()) == sorted(published)
    log = await runtime.db.read(lambda session: read_events(session, after=0, limit=10_000))
    for subject in subjects:
        in_log = [event.id for event in log if event.subject == subject]
        assert recorder.called(subject) == in_log
    assert await effects(runtime) == Counter(published)


async def test_a_failing_handler_is_retried_with_backoff_and_its_effect_committed_once(
    runtime: Runtime, bus: Bus, recorder: Recorder, clock: FrozenClock
) -> None:
    flaky, steady = await publish(runtime, "cus_flaky", "cus_steady")
    recorder.failures_left[flaky] = 2

    await rounds(bus)
    assert recorder.called("cus_flaky") == [flaky]
    assert recorder.called("cus_steady") == [steady]
    [waiting] = await parked(runtime)
    assert (waiting.event_id, waiting.attempts, waiting.dead_at) == (flaky, 1, None)
    assert waiting.next_attempt_at == clock.now() + timedelta(seconds=1)
    assert "HandlerFailed" in waiting.last_error

    clock.advance(timedelta(seconds=0.9))
    await rounds(bus)
    assert recorder.called("cus_flaky") == [flaky]

    clock.advance(timedelta(seconds=0.1))
    await rounds(bus)
    assert recorder.called("cus_flaky") == [flaky] * 2
    [waiting] = await parked(runtime)
    assert waiting.attempts == 2
    assert waiting.next_attempt_at == clock.now() + timedelta(seconds=2)

    clock.advance(timedelta(seconds=1.9))
    await rounds(bus)
    assert recorder.called("cus_flaky") == [flaky] * 2
    clock.advance(timedelta(seconds=0.1))
    await rounds(bus)

    assert recorder.called("cus_flaky") == [flaky] * 3
    assert await parked(runtime) == []
    assert await effects(runtime) == Counter({flaky: 1, steady: 1})


async def test_a_handler_that_always_fails_dead_letters_while_its_subject_waits_and_others_flow(
    runtime: Runtime, bus: Bus, recorder: Recorder, clock: FrozenClock
) -> None:
    bad1, good1, bad2, good2 = await publish(runtime, "cus_bad", "cus_good", "cus_bad", "cus_good")
    recorder.broken.add(bad1)

    await rounds(bus)
    assert recorder.called("cus_good") == [good1, good2]
    assert recorder.called("cus_bad") == [bad1]
    first, queued = await parked(runtime)
    assert (first.event_id, first.attempts, first.blocked) == (bad1, 1, False)
    assert (queued.event_id, queued.attempts, queued.blocked) == (bad2, 0, True)

    # Other subjects keep flowing; the failing subject's new events queue behind its failure.
    bad3, good3 = await publish(runtime, "cus_bad", "cus_good")
    await rounds(bus)
    assert recorder.called("cus_good") == [good1, good2, good3]
    assert recorder.called("cus_bad") == [bad1]

    clock.advance(timedelta(seconds=1))
    await rounds(bus)
    assert recorder.called("cus_bad") == [bad1, bad1]
    clock.advance(timedelta(seconds=2))
    await rounds(bus)

    # The third failure is the last attempt: dead, and the subject's queue moves on in order.
    assert recorder.called("cus_bad") == [bad1, bad1, bad1, bad2, bad3]
    [dead] = await parked(runtime)
    assert (dead.event_id, dead.attempts) == (bad1, MAX_ATTEMPTS)
    assert dead.dead_at == clock.now()
    assert "always fails on" in dead.last_error
    assert await effects(runtime) == Counter({good1: 1, good2: 1, good3: 1, bad2: 1, bad3: 1})

    # Later events of the subject are not held up by a dead letter.
    bad4 = (await publish(runtime, "cus_bad"))[0]
    await rounds(bus)
    assert recorder.called("cus_bad")[-1] == bad4

    # Once the handler is fixed, the dead letter is retried by hand and succeeds, once.
    recorder.broken.clear()
    subscription = bus.registry.get("test.recorder")
    succeeded = await runtime.db.write(
        lambda uow: retry_dead_letter(
            uow, subscription=subscription, dead_letter_id=dead.id, policy=runtime.retry_policy
        )
    )
    assert succeeded is True
    assert await parked(runtime) == []
    assert (await effects(runtime))[bad1] == 1


async def test_retrying_a_dead_letter_that_fails_again_keeps_it_dead_with_the_new_error(
    runtime: Runtime, bus: Bus, recorder: Recorder, clock: FrozenClock
) -> None:
    [bad] = await publish(runtime, "cus_bad")
    recorder.broken.add(bad)
    for _ in range(MAX_ATTEMPTS):
        await rounds(bus, 1)
        clock.advance(timedelta(minutes=5))
    [dead] = await parked(runtime)
    assert dead.dead_at is not None

    subscription = bus.registry.get("test.recorder")
    succeeded = await runtime.db.write(
        lambda uow: retry_dead_letter(
            uow, subscription=subscription, dead_letter_id=dead.id, policy=runtime.retry_policy
        )
    )

    assert succeeded is False
    [still] = await parked(runtime)
    assert (still.id, still.dead_at, still.attempts) == (dead.id, dead.dead_at, MAX_ATTEMPTS + 1)
    assert await effects(runtime) == Counter()


async def test_a_redelivered_event_is_skipped(runtime: Runtime, bus: Bus, recorder: Recorder) -> None:
    published = await publish(runtime, *(f"cus_{n}" for n in range(120)))
    await bus.drain()
    assert sorted(recorder.called()) == sorted(published)

    # As after a crash between handling and saving the position: the log is read again from the start.
    await runtime.db.write(lambda uow: uow.session.execute(update(SubscriptionPosition).values(position=0)))
    await bus.drain()

    assert sorted(recorder.called()) == sorted(published)
    assert await effects(runtime) == Counter(published)


async def test_replay_drops_the_projection_and_delivers_every_event_again(
    runtime: Runtime, bus: Bus, recorder: Recorder
) -> None:
    published = await publish(runtime, *(f"cus_{n}" for n in range(120)))
    await bus.drain()
    subscription = bus.registry.get("test.recorder")

    await runtime.db.write(lambda uow: reset_subscription(uow, subscription=subscription))
    assert recorder.resets == 1
    assert await effects(runtime) == Counter()
    await bus.drain()

    assert sorted(recorder.called()) == sorted(published * 2)
    assert await effects(runtime) == Counter(published)


async def test_events_a_handler_publishes_are_delivered_and_name_their_cause(
    runtime: Runtime, bus: Bus, recorder: Recorder
) -> None:
    [created] = await publish(runtime, "cus_1", event=CustomerCreated)
    await bus.drain()

    [follow_up] = recorder.calls
    assert follow_up.subject == "cus_1"
    assert follow_up.causationid == created
    assert follow_up.data["changes"] == {"followed": created}
    log = await runtime.db.read(lambda session: read_events(session, after=0, limit=10))
    assert follow_up.correlationid == log[0].correlationid


async def test_events_published_by_a_handler_that_then_fails_are_neither_written_nor_announced(
    runtime: Runtime, bus: Bus, recorder: Recorder
) -> None:
    await publish(runtime, "cus_1", event=CustomerCreated)
    await asyncio.sleep(0.1)  # the announcement of that commit
    announced: list[int] = []
    runtime.db.add_commit_listener(lambda: announced.append(1))
    recorder.publish_then_fail.add("cus_1")

    await rounds(bus, 1)

    log = await runtime.db.read(lambda session: read_events(session, after=0, limit=10))
    assert [event.type for event in log] == ["customer.created"]
    assert announced == []
    [waiting] = await parked(runtime)
    assert waiting.attempts == 1


async def test_a_failing_handler_takes_its_events_with_it_and_its_batch_mates_publish_theirs_once(
    runtime: Runtime, bus: Bus, recorder: Recorder
) -> None:
    await publish(runtime, "cus_1", "cus_2", "cus_3", event=CustomerCreated)
    recorder.publish_then_fail.add("cus_2")

    await rounds(bus, 1)

    log = await runtime.db.read(lambda session: read_events(session, after=0, limit=10))
    follow_ups = [event.subject for event in log if event.type == "customer.updated"]
    assert sorted(follow_ups) == ["cus_1", "cus_3"]
    [waiting] = await parked(runtime)
    assert (waiting.subject, waiting.attempts) == ("cus_2", 1)


async def test_concurrent_delivery_rounds_of_one_subscription_handle_each_event_once(
    runtime: Runtime, bus: Bus, recorder: Recorder
) -> None:
    await publish(runtime, "cus_0")
    await bus.drain()
    published = await publish(runtime, *(f"cus_{n}" for n in range(40)))
    subscription = bus.registry.get("test.recorder")

    await asyncio.gather(*(bus.deliver_once(subscription) for _ in range(3)))
    await rounds(bus, 2)

    assert await parked(runtime) == []
    effect = await effects(runtime)
    assert all(effect[event_id] == 1 for event_id in published)


async def test_a_bus_stopped_and_started_again_keeps_delivering(
    runtime: Runtime, bus: Bus, recorder: Recorder
) -> None:
    async def delivered(event_id: str) -> bool:
        for _ in range(500):
            if event_id in recorder.called():
                return True
            await asyncio.sleep(0.02)
        return False

    await bus.start()
    [first] = await publish(runtime, "cus_1")
    assert await delivered(first)
    await bus.stop()

    await bus.start()
    try:
        [second] = await publish(runtime, "cus_1")
        assert await delivered(second)
    finally:
        await bus.stop()


async def test_a_running_bus_reads_the_commits_of_its_round_gap_together(runtime: Runtime) -> None:
    rounds_read: list[list[str]] = []
    changed = asyncio.Event()

    def seen(ids: list[str]) -> None:
        rounds_read.append(ids)
        changed.set()

    registry = SubscriptionRegistry()
    registry.add(
        "test.batched",
        EventHandlers({CustomerUpdated: lambda uow, data, event: seen([event.id])}),  # a round of one event
        batch_handler=lambda units: seen([event.id for _, _, event in units]),
    )
    bus = Bus(runtime.db, registry, policy=runtime.retry_policy, batch_size=50, round_gap_s=0.5)

    async def rounds_done(count: int) -> None:
        async with asyncio.timeout(5):
            while len(rounds_read) < count:
                changed.clear()
                await changed.wait()

    await bus.start()
    try:
        [first] = await publish(runtime, "cus_1")
        await rounds_done(1)
        # Five commits inside the gap after that round: the next round reads them all at once.
        later = [(await publish(runtime, f"cus_{n}"))[0] for n in range(2, 7)]
        await rounds_done(2)
    finally:
        await bus.stop()
    assert rounds_read == [[first], later]


async def test_an_event_whose_predecessor_fails_when_run_again_queues_behind_it(
    runtime: Runtime, bus: Bus, recorder: Recorder
) -> None:
    # The first run of the batch fails on the second event and rolls back; the first event, run again
    # alone, fails this time. The second must then wait behind it, not be retried beside it.
    first, second = await publish(runtime, "cus_1", "cus_1")
    recorder.fail_on_call = {first: {2}, second: {1}}

    await rounds(bus, 1)

    assert recorder.called("cus_1") == [first, second, first]
    head, behind = await parked(runtime)
    assert (head.event_id, head.attempts, head.blocked) == (first, 1, False)
    assert (behind.event_id, behind.attempts, behind.blocked) == (second, 0, True)


async def test_a_batch_handler_takes_a_round_at_once_and_a_failure_in_it_falls_back_to_one_by_one(
    runtime: Runtime,
) -> None:
    batches: list[list[str]] = []
    causes: list[tuple[str | None, str]] = []

    def one(uow: UnitOfWork, data: CustomerUpdated, event: Event) -> None:
        assert data.customer_id == event.subject
        record_audit(uow, tenant_id=event.tenant, action=HANDLED, target_type="event", target_id=event.id)
        if event.subject == "cus_bad":
            raise HandlerFailed(f"always fails on {event.id}")

    def many(units: Sequence[tuple[UnitOfWork, EventPayload, Event]]) -> None:
        batches.append([event.id for _, _, event in units])
        for uow, data, event in units:
            causes.append((uow.context.causation_id, event.id))
            assert isinstance(data, CustomerUpdated)
            one(uow, data, event)

    registry = SubscriptionRegistry()
    registry.add("test.batched", EventHandlers({CustomerUpdated: one}), batch_handler=many)
    bus = Bus(runtime.db, registry, policy=runtime.retry_policy, batch_size=50)

    good = await publish(runtime, "cus_a", "cus_b", "cus_c")
    await rounds(bus, 1)
    assert batches == [good]
    assert all(cause == event_id for cause, event_id in causes)
    assert await effects(runtime) == Counter({event_id: 1 for event_id in good})

    before, bad, after = await publish(runtime, "cus_d", "cus_bad", "cus_e")
    await rounds(bus, 1)
    assert batches[1:] == [[before, bad, after]]  # then one at a time, through the handler
    assert await effects(runtime) == Counter({event_id: 1 for event_id in [*good, before, after]})
    [waiting] = await parked(runtime)
    assert waiting.event_id == bad and "HandlerFailed" in waiting.last_error


async def test_handled_ids_are_pruned_once_every_partition_has_read_past_them(
    runtime: Runtime, subscriptions: SubscriptionRegistry, recorder: Recorder, clock: FrozenClock
) -> None:
    bus = Bus(
        runtime.db,
        subscriptions,
        policy=runtime.retry_policy,
        batch_size=50,
        prune_interval_s=0,
        keep_processed_s=60,
    )

    async def handled_ids() -> set[str]:
        def query(session: Session) -> set[str]:
            return set(
                session.scalars(
                    select(ProcessedEvent.event_id).where(ProcessedEvent.subscription == "test.recorder")
                )
            )

        return await runtime.db.read(query)

    first = await publish(runtime, "cus_a", "cus_b", "cus_c")
    await rounds(bus, 1)
    assert await handled_ids() == set(first)  # recorded in the round that handled them
    await rounds(bus, 1)
    assert await handled_ids() == set(first)  # read past, but kept for a minute
    clock.advance(timedelta(seconds=61))
    flaky, steady = await publish(runtime, "cus_flaky", "cus_d")
    recorder.failures_left[flaky] = 1
    await rounds(bus, 1)
    # Every partition has read past the first three: forgotten. The parked one was never recorded.
    assert await handled_ids() == {steady}
    clock.advance(timedelta(seconds=61))
    await rounds(bus, 2)
    assert recorder.called("cus_flaky") == [flaky, flaky]
    assert await handled_ids() == {flaky}  # handled a moment ago: kept for now
    assert await effects(runtime) == Counter({event_id: 1 for event_id in [*first, flaky, steady]})


def _recording(
    calls: dict[str, list[str]], name: str, *, fails: bool = False
) -> PayloadHandler[CustomerUpdated]:
    def handle(uow: UnitOfWork, _data: CustomerUpdated, event: Event) -> None:
        calls.setdefault(name, []).append(event.id)
        record_audit(
            uow, tenant_id=event.tenant, action=f"{HANDLED}.{name}", target_type="event", target_id=event.id
        )
        if fails:
            raise HandlerFailed(f"{name} fails on {event.id}")

    return handle


async def positions_of(runtime: Runtime, subscription: str) -> set[int]:
    def query(session: Session) -> set[int]:
        return set(
            session.scalars(
                select(SubscriptionPosition.position).where(SubscriptionPosition.subscription == subscription)
            )
        )

    return await runtime.db.read(query)


async def test_a_failing_subscription_neither_holds_back_nor_redelivers_to_the_others_of_its_round(
    runtime: Runtime, clock: FrozenClock
) -> None:
    calls: dict[str, list[str]] = {}
    registry = SubscriptionRegistry()
    registry.add("test.first", EventHandlers({CustomerUpdated: _recording(calls, "first")}))
    registry.add("test.broken", EventHandlers({CustomerUpdated: _recording(calls, "broken", fails=True)}))
    registry.add("test.last", EventHandlers({CustomerUpdated: _recording(calls, "last")}))
    bus = Bus(runtime.db, registry, policy=runtime.retry_policy, batch_size=50)
    published = await publish(runtime, *(f"cus_{n}" for n in range(5)))

    await bus.drain()
    for _ in range(MAX_ATTEMPTS):  # every retry of the broken one, to its dead letters
        clock.advance(timedelta(minutes=5))
        await bus.drain()
        await rounds(bus, 1)

    assert calls["first"] == published
    assert calls["last"] == published
    assert calls["broken"] == published * MAX_ATTEMPTS
    dead = await parked(runtime)
    assert {(p.subscription, p.event_id) for p in dead} == {
        ("test.broken", event_id) for event_id in published
    }
    assert all(p.dead_at is not None for p in dead)
    every_handled = await effects_of(runtime)
    assert every_handled == {
        "first": Counter(published),
        "last": Counter(published),
    }
    # Each subscription has read the whole log, the failing one too (its failures are parked, not re-read).
    last_seq = max(event.seq for event in await runtime.db.read(lambda s: read_events(s, after=0, limit=10)))
    for name in ("test.first", "test.broken", "test.last"):
        assert max(await positions_of(runtime, name)) == last_seq


async def effects_of(runtime: Runtime) -> dict[str, Counter[str]]:
    """How many times each event's handling committed its effect, by subscription of ``_recording``."""

    def query(session: Session) -> dict[str, Counter[str]]:
        found: dict[str, Counter[str]] = {}
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.target_id).where(AuditEntry.action.like(f"{HANDLED}.%"))
        )
        for action, target in rows:
            found.setdefault(action.removeprefix(f"{HANDLED}."), Counter())[target] += 1
        return found

    return await runtime.db.read(query)


async def test_positions_stay_per_subscription_so_a_replay_of_one_leaves_the_others_alone(
    runtime: Runtime,
) -> None:
    calls: dict[str, list[str]] = {}
    registry = SubscriptionRegistry()
    registry.add("test.kept", EventHandlers({CustomerUpdated: _recording(calls, "kept")}))
    replayed = registry.add("test.replayed", EventHandlers({CustomerUpdated: _recording(calls, "replayed")}))
    bus = Bus(runtime.db, registry, policy=runtime.retry_policy, batch_size=50)
    published = await publish(runtime, *(f"cus_{n}" for n in range(120)))
    await bus.drain()

    await runtime.db.write(lambda uow: reset_subscription(uow, subscription=replayed))
    assert await positions_of(runtime, "test.replayed") == {0}
    await bus.drain()

    assert calls["kept"] == published
    assert calls["replayed"] == published * 2
    assert await positions_of(runtime, "test.kept") == await positions_of(runtime, "test.replayed")


async def test_a_subscription_added_later_catches_up_from_its_own_position_without_holding_back_the_others(
    runtime: Runtime,
) -> None:
    calls: dict[str, list[str]] = {}
    old = SubscriptionRegistry()
    old.add("test.old", EventHandlers({CustomerUpdated: _recording(calls, "old")}))
    backlog = await publish(runtime, *(f"cus_{n}" for n in range(120)))
    await Bus(runtime.db, old, policy=runtime.retry_policy, batch_size=50).drain()
    assert calls["old"] == backlog

    # A deployment adds a subscription: it starts from the beginning of the log, on its own positions.
    both = SubscriptionRegistry()
    both.add("test.old", EventHandlers({CustomerUpdated: _recording(calls, "old")}))
    both.add("test.new", EventHandlers({CustomerUpdated: _recording(calls, "new")}))
    bus = Bus(runtime.db, both, policy=runtime.retry_policy, batch_size=50)
    [fresh] = await publish(runtime, "cus_fresh")

    await bus.deliver_round(list(both))
    # The first round already brings the existing subscription the new event, not behind the backlog.
    assert calls["old"] == [*backlog, fresh]
    assert calls["new"] == backlog[:50]

    await bus.drain()
    assert calls["old"] == [*backlog, fresh]
    assert calls["new"] == [*backlog, fresh]
    assert (await effects_of(runtime))["new"] == Counter([*backlog, fresh])


async def test_a_round_reads_the_log_once_for_every_subscription_it_delivers(runtime: Runtime) -> None:
    calls: dict[str, list[str]] = {}
    registry = SubscriptionRegistry()
    for n in range(5):
        registry.add(f"test.sub{n}", EventHandlers({CustomerUpdated: _recording(calls, f"sub{n}")}))
    bus = Bus(runtime.db, registry, policy=runtime.retry_policy, batch_size=50)
    first = await publish(runtime, "cus_first")
    await bus.drain()
    published = await publish(runtime, *(f"cus_{n}" for n in range(30)))
    log_reads: list[str] = []

    def seen(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        if "FROM events" in statement and statement.lstrip().upper().startswith("SELECT"):
            log_reads.append(statement)

    sql_event.listen(Engine, "before_cursor_execute", seen)
    try:
        read = await bus.deliver_round(list(registry))
    finally:
        sql_event.remove(Engine, "before_cursor_execute", seen)

    assert read == len(published)
    assert all(calls[f"sub{n}"] == [*first, *published] for n in range(5))
    # On PostgreSQL one more, of one event: the look before taking the positions' row locks.
    assert len(log_reads) == (2 if runtime.db.driver == "postgresql" else 1)


async def test_a_failure_whose_message_holds_nul_is_parked_with_it_escaped(runtime: Runtime) -> None:
    def binary(uow: UnitOfWork, _data: CustomerUpdated, event: Event) -> None:
        raise HandlerFailed("binary\x00payload")

    registry = SubscriptionRegistry()
    registry.add("test.binary", EventHandlers({CustomerUpdated: binary}))
    bus = Bus(runtime.db, registry, policy=runtime.retry_policy, batch_size=50)
    await publish(runtime, "cus_1")

    await bus.deliver_round(list(registry))

    (found,) = await parked(runtime)
    assert "HandlerFailed: binary\\x00payload" in found.last_error
    assert "\x00" not in found.last_error


async def test_a_subscription_whose_failure_cannot_even_be_parked_does_not_stop_the_others(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[str, list[str]] = {}

    def undescribable(error: BaseException) -> str:
        raise RuntimeError("the failure cannot be written down")

    monkeypatch.setattr(delivery, "_error_text", undescribable)

    def unrecordable(uow: UnitOfWork, _data: CustomerUpdated, event: Event) -> None:
        calls.setdefault("unrecordable", []).append(event.id)
        raise HandlerFailed("failed")

    registry = SubscriptionRegistry()
    registry.add("test.unrecordable", EventHandlers({CustomerUpdated: unrecordable}))
    registry.add("test.fine", EventHandlers({CustomerUpdated: _recording(calls, "fine")}))
    bus = Bus(runtime.db, registry, policy=runtime.retry_policy, batch_size=50)
    published = await publish(runtime, *(f"cus_{n}" for n in range(5)))

    for _ in range(3):  # rounds shared by both, as the running bus delivers them
        await bus.deliver_round(list(registry))

    assert calls["fine"] == published
    assert (await effects_of(runtime))["fine"] == Counter(published)
    # Its part of each round was undone: it stays where it was, and tries again every round.
    assert await positions_of(runtime, "test.unrecordable") == {0}
    assert len(calls["unrecordable"]) >= 3


async def test_a_subscription_receives_only_the_classes_it_registered_each_at_its_handler(
    runtime: Runtime,
) -> None:
    seen: list[tuple[str, EventPayload, str]] = []
    handlers = EventHandlers()

    @handlers.on(CustomerCreated)
    def _created(uow: UnitOfWork, data: CustomerCreated, event: Event) -> None:
        seen.append(("created", data, event.id))

    @handlers.on(IdentityLinked)
    def _linked(uow: UnitOfWork, data: IdentityLinked, event: Event) -> None:
        seen.append(("linked", data, event.id))

    registry = SubscriptionRegistry()
    subscription = registry.add("test.typed", handlers)
    assert subscription.types == {"customer.created", "identity.linked"}
    bus = Bus(runtime.db, registry, policy=runtime.retry_policy, batch_size=50)
    created = CustomerCreated(customer_id="cus_1", name="Ada", email=None, phone=None, account_id=None)
    linked = IdentityLinked(identity_id="idn_1", customer_id="cus_1", kind="email", system="", value="a@x.io")

    def write(uow: UnitOfWork) -> list[str]:
        return [
            uow.publish(payload, tenant_id=TENANT, subject="cus_1").id
            for payload in (created, CustomerUpdated(customer_id="cus_1", changes={"n": 1}), linked)
        ]

    created_id, _, linked_id = await runtime.db.write(write)
    await rounds(bus, 2)

    assert seen == [("created", created, created_id), ("linked", linked, linked_id)]
    assert [type(data) for _, data, _ in seen] == [CustomerCreated, IdentityLinked]


async def test_the_subscriptions_of_one_round_share_each_event_s_payload(runtime: Runtime) -> None:
    """A round reads the log once for every subscription, and decodes each event once for them all; the
    next round decodes afresh."""
    seen: dict[str, list[EventPayload]] = {"a": [], "b": []}

    def keep(name: str) -> PayloadHandler[CustomerUpdated]:
        def handler(uow: UnitOfWork, data: CustomerUpdated, event: Event) -> None:
            seen[name].append(data)

        return handler

    registry = SubscriptionRegistry()
    registry.add("test.a", EventHandlers({CustomerUpdated: keep("a")}))
    registry.add("test.b", EventHandlers({CustomerUpdated: keep("b")}))
    bus = Bus(runtime.db, registry, policy=runtime.retry_policy, batch_size=50)
    await publish(runtime, "cus_1")
    await bus.deliver_round(list(registry))
    await publish(runtime, "cus_2")
    await bus.deliver_round(list(registry))

    assert len(seen["a"]) == len(seen["b"]) == 2
    assert seen["a"][0] is seen["b"][0] and seen["a"][1] is seen["b"][1]
    assert seen["a"][0] is not seen["a"][1]
