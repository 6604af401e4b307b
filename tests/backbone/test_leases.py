"""Workers share subscriptions' log partitions through leases: every event is handled once, in subject
order, by whichever worker holds its partition, and a dead worker's partitions are taken over."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from tests.backbone.scaleout_support import (
    PARTITIONS,
    SUBSCRIPTION,
    TENANT,
    ProbeHandled,
    ProbeRecorded,
    assert_each_handled_once_in_subject_order,
    empty_database,
    eventually,
    fetch,
    handled_everything,
    logged,
    probe_registry,
    record_probes,
    started_database,
)

from cxstack.backbone.consumer import Bus
from cxstack.backbone.database import Database
from cxstack.backbone.delivery import RetryPolicy
from cxstack.backbone.envelope import Event
from cxstack.backbone.leases import LeaseManager, fair_share
from cxstack.backbone.subscriptions import EventHandlers, SubscriptionRegistry
from cxstack.backbone.timers import schedule_timer
from cxstack.backbone.unit_of_work import UnitOfWork, partition_of
from cxstack.backbone.worker import Worker


@pytest.fixture
async def pg_url(pg_database: str) -> str:
    await empty_database(pg_database)
    return pg_database


class Pool:
    """Workers of one test, each on a Database of its own; stops them all at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.workers: dict[str, Worker] = {}
        self.databases: list[Database] = []

    async def start(
        self,
        name: str,
        *,
        lease_s: float = 1.5,
        renew_s: float | None = None,
        registry: Callable[[str], SubscriptionRegistry] = probe_registry,
    ) -> Worker:
        db = await started_database(self.url, partitions=PARTITIONS)
        self.databases.append(db)
        worker = Worker(
            db,
            registry(name),
            policy=RetryPolicy(base_delay_s=0.01),
            nats_url=None,
            lease_s=lease_s,
            renew_s=renew_s,
            idle_poll_s=0.05,
            timer_poll_s=0.2,
            worker_id=name,
        )
        await worker.start()
        self.workers[name] = worker
        return worker

    async def close(self) -> None:
        for worker in self.workers.values():
            await worker.stop()
        for db in self.databases:
            await db.stop()


@pytest.fixture
async def pool(pg_url: str) -> AsyncIterator[Pool]:
    pool = Pool(pg_url)
    yield pool
    await pool.close()


def held(worker: Worker) -> set[int]:
    return {partition for _name, partition in worker.leases.held}


async def owners(url: str) -> dict[int, str | None]:
    rows = await fetch(
        url, "SELECT partition, owner FROM subscription_positions WHERE subscription = $1", SUBSCRIPTION
    )
    return {row["partition"]: row["owner"] for row in rows}


async def record_many(db: Database, subjects: list[str], rounds: int) -> None:
    """Publish ``rounds`` probes per subject, interleaved across subjects, numbered in order."""
    n = 0
    for _ in range(rounds):
        await record_probes(db, subjects, start=n)
        n += len(subjects)


async def test_two_workers_split_the_partitions_and_handle_every_event_once_in_subject_order(
    pool: Pool, pg_url: str
) -> None:
    a = await pool.start("worker-a")
    assert held(a) == set(range(PARTITIONS)), "a lone worker holds every partition"
    b = await pool.start("worker-b")

    async def split() -> bool:
        return len(held(a)) == len(held(b)) == PARTITIONS // 2

    await eventually(split)
    assert held(a).isdisjoint(held(b))
    assert await owners(pg_url) == {p: "worker-a" if p in held(a) else "worker-b" for p in range(PARTITIONS)}

    subjects = [f"cus_{i}" for i in range(40)]
    await record_many(a.db, subjects, rounds=5)
    await eventually(lambda: handled_everything(pg_url))

    handled = await assert_each_handled_once_in_subject_order(pg_url)
    by_worker = Counter(h.worker for h in handled)
    assert set(by_worker) == {"worker-a", "worker-b"}
    for h in handled:
        subject = subjects[h.n % len(subjects)]
        expected = "worker-a" if partition_of(subject, PARTITIONS) in held(a) else "worker-b"
        assert h.worker == expected, "an event is handled by the worker holding its partition"


async def test_a_dead_workers_partitions_are_taken_over_when_its_leases_expire(
    pool: Pool, pg_url: str
) -> None:
    a = await pool.start("worker-a", lease_s=1.0)
    b = await pool.start("worker-b", lease_s=1.0)
    await eventually(lambda: _split_between(a, b))
    orphaned = held(a)

    # Dies: stops delivering and renewing, and never hands its leases back.
    await a.stop(release=False)
    subjects = [f"cus_{i}" for i in range(40)]
    await record_many(b.db, subjects, rounds=3)

    await eventually(lambda: handled_everything(pg_url))
    assert held(b) == set(range(PARTITIONS))
    assert set((await owners(pg_url)).values()) == {"worker-b"}
    handled = await assert_each_handled_once_in_subject_order(pg_url)
    assert {h.worker for h in handled} == {"worker-b"}
    assert any(partition_of(subjects[h.n % len(subjects)], PARTITIONS) in orphaned for h in handled)


async def _split_between(a: Worker, b: Worker) -> bool:
    return bool(held(a)) and bool(held(b)) and len(held(a)) + len(held(b)) == PARTITIONS


async def test_a_clean_stop_hands_the_leases_back_at_once(pool: Pool, pg_url: str) -> None:
    a = await pool.start("worker-a", lease_s=30.0)
    b = await pool.start("worker-b", lease_s=30.0)
    await a.leases.balance()
    await b.leases.balance()
    assert await _split_between(a, b)

    await a.stop()
    assert "worker-a" not in set((await owners(pg_url)).values())
    assert [row["id"] for row in await fetch(pg_url, "SELECT id FROM bus_workers")] == ["worker-b"]
    # Without waiting for any lease to expire.
    await b.leases.balance()
    assert held(b) == set(range(PARTITIONS))


SUBSCRIPTIONS = ("tests.first", "tests.second", "tests.third")


def three_subscriptions(worker: str) -> SubscriptionRegistry:
    """Three subscriptions of the same events, each recording who handled what for whom."""
    registry = SubscriptionRegistry()
    for name in SUBSCRIPTIONS:

        def handle(uow: UnitOfWork, probe: ProbeRecorded, event: Event, name: str = name) -> None:
            uow.publish(
                ProbeHandled(of=event.id, n=probe.n, worker=f"{worker}|{name}"),
                tenant_id=event.tenant,
                subject=event.subject,
            )

        registry.add(name, EventHandlers({ProbeRecorded: handle}))
    return registry


async def test_workers_share_rounds_of_several_subscriptions_and_each_gets_every_event_once_in_order(
    pool: Pool, pg_url: str
) -> None:
    a = await pool.start("worker-a", registry=three_subscriptions)
    b = await pool.start("worker-b", registry=three_subscriptions)

    async def split() -> bool:
        return bool(a.leases.held) and bool(b.leases.held)

    await eventually(split)
    subjects = [f"cus_{i}" for i in range(40)]
    await record_many(a.db, subjects, rounds=4)

    async def all_handled() -> bool:
        return len(await logged(pg_url, "probe.handled")) >= 3 * len(await logged(pg_url, "probe.recorded"))

    await eventually(all_handled)
    recorded = await logged(pg_url, "probe.recorded")
    handled = await logged(pg_url, "probe.handled")
    by_subscription: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in handled:
        by_subscription[row["data"]["worker"].split("|")[1]].append(row)
    assert set(by_subscription) == set(SUBSCRIPTIONS)
    for rows in by_subscription.values():
        assert Counter(row["causation_id"] for row in rows) == Counter(row["id"] for row in recorded)
        order: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            order[row["subject"]].append(row["data"]["n"])
        expected: dict[str, list[int]] = defaultdict(list)
        for row in recorded:
            expected[row["subject"]].append(row["data"]["n"])
        assert order == expected
    workers = {row["data"]["worker"].split("|")[0] for row in handled}
    assert workers == {"worker-a", "worker-b"}


async def test_a_clean_stop_hands_over_to_a_running_worker_long_before_the_lease_would_expire(
    pool: Pool, pg_url: str
) -> None:
    # Leases of a minute, renewed once an hour: within the test only a look between renewals (a quarter
    # of a second) can make the remaining worker claim the partitions handed back.
    a = await pool.start("worker-a", lease_s=60.0, renew_s=3600.0)
    b = await pool.start("worker-b", lease_s=60.0, renew_s=3600.0)
    await eventually(lambda: _split_between(a, b))
    orphaned = held(a)
    [row] = await fetch(
        pg_url,
        "SELECT max(lease_expires_at) AS expires FROM subscription_positions WHERE owner = 'worker-a'",
    )
    a_lease_ended_at = row["expires"]

    await a.stop()
    subjects = [f"cus_{i}" for i in range(40)]
    await record_many(b.db, subjects, rounds=2)

    await eventually(lambda: handled_everything(pg_url), timeout_s=30.0)
    assert held(b) == set(range(PARTITIONS))
    [row] = await fetch(pg_url, "SELECT now() AS now")
    assert row["now"] < a_lease_ended_at, "taken over before the stopped worker's lease would have ended"
    handled = await assert_each_handled_once_in_subject_order(pg_url)
    assert {h.worker for h in handled} == {"worker-b"}
    assert any(partition_of(subjects[h.n % len(subjects)], PARTITIONS) in orphaned for h in handled)


async def test_a_new_worker_gets_its_share_without_waiting_for_the_others_renewals(
    pool: Pool, pg_url: str
) -> None:
    a = await pool.start("worker-a", lease_s=60.0, renew_s=3600.0)
    assert held(a) == set(range(PARTITIONS))
    b = await pool.start("worker-b", lease_s=60.0, renew_s=3600.0)

    await eventually(lambda: _split_between(a, b), timeout_s=20.0)
    assert len(held(a)) == len(held(b)) == PARTITIONS // 2


async def test_a_worker_whose_lease_was_taken_over_does_not_deliver_that_partition(pg_url: str) -> None:
    db = await started_database(pg_url, partitions=PARTITIONS)
    registry = probe_registry("worker-a")
    # No background balancing: this worker keeps believing it holds every partition.
    leases = LeaseManager(db, [SUBSCRIPTION], worker_id="worker-a", lease_s=30.0, renew_s=3600.0)
    bus = Bus(db, registry, policy=RetryPolicy(), partitions=leases.partitions_of, owner=leases.worker_id)
    try:
        await leases.start()
        await record_probes(db, [f"cus_{i}" for i in range(40)])
        lost = partition_of("cus_0", PARTITIONS)
        await fetch(
            pg_url,
            "UPDATE subscription_positions SET owner = 'worker-z' WHERE subscription = $1 AND partition = $2",
            SUBSCRIPTION,
            lost,
        )
        assert lost in held_by(leases)

        await bus.drain()
    finally:
        await leases.stop()
        await db.stop()

    handled = {row["data"]["n"] for row in await logged(pg_url, "probe.handled")}
    recorded = {row["data"]["n"]: row["partition"] for row in await logged(pg_url, "probe.recorded")}
    assert handled == {n for n, partition in recorded.items() if partition != lost}
    positions = await fetch(
        pg_url,
        "SELECT position FROM subscription_positions WHERE subscription = $1 AND partition = $2",
        SUBSCRIPTION,
        lost,
    )
    assert positions[0]["position"] == 0, "the position of a partition owned by another worker is not moved"


def held_by(leases: LeaseManager) -> set[int]:
    return {partition for _name, partition in leases.held}


async def test_every_worker_fires_due_timers_and_each_timer_fires_once(pool: Pool, pg_url: str) -> None:
    a = await pool.start("worker-a")
    b = await pool.start("worker-b")
    await eventually(lambda: _split_between(a, b))

    def schedule(uow: UnitOfWork) -> None:
        for n in range(60):
            schedule_timer(
                uow,
                tenant_id=TENANT,
                key=f"probe-{n}",
                fire_at=uow.clock.now(),
                subject=f"cus_{n % 20}",
                event=ProbeRecorded(n=n),
            )

    await a.db.write(schedule)

    async def fired() -> bool:
        rows = await fetch(pg_url, "SELECT count(*) AS n FROM timers WHERE fired_at IS NULL")
        return rows[0]["n"] == 0

    await eventually(fired)
    await eventually(lambda: handled_everything(pg_url))
    recorded = await logged(pg_url, "probe.recorded")
    assert sorted(row["data"]["n"] for row in recorded) == list(range(60)), "each timer fired exactly once"
    await assert_each_handled_once_in_subject_order(pg_url)


def test_fair_share_rounds_up_so_that_every_lease_has_a_holder() -> None:
    assert fair_share(32, 1) == 32
    assert fair_share(32, 3) == 11
    assert fair_share(16, 0) == 16
    assert fair_share(2, 5) == 1
