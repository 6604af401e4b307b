"""Effects: jobs that act on the outside world after commit, at least once, with retries, on both drivers."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.backbone.delivery import RetryPolicy
from cxstack.backbone.effect_runner import EffectRunner
from cxstack.backbone.effects import (
    DEFAULT_CONCURRENCY,
    MAX_RETRY_AFTER_S,
    EffectFailed,
    EffectJob,
    EffectRegistry,
    Reader,
    RetryLater,
    claim_due_effects,
    enqueue_effect,
    list_effects,
    retry_effect,
)
from cxstack.backbone.log import read_events
from cxstack.backbone.migrate import upgrade
from cxstack.backbone.models import EffectRecord
from cxstack.backbone.subscriptions import SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.kit.files import local_file_store
from cxstack.records.customers.schemas import CustomerUpdated
from cxstack.runtime import Runtime
from cxstack.wiring import build_effects

TENANT = "ten_effects"
KIND = "test.call"
#: A second kind, whose outside service hangs until the test lets it answer.
HANGING = "test.hanging_call"


@dataclass
class Outside:
    """The outside world the test effect calls: records each call, fails or delays as told."""

    calls: list[tuple[str, int]] = field(default_factory=list)
    #: For each call, in turn: an exception to raise (None: succeed).
    script: list[Exception | None] = field(default_factory=list)
    delay_s: float = 0.0
    finished_at: list[float] = field(default_factory=list)

    async def perform(self, job: EffectJob, read: Reader) -> dict[str, Any]:
        self.calls.append((job.key, job.attempt))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.finished_at.append(time.monotonic())
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        return {"echo": job.payload["n"], "attempt": job.attempt}

    def on_done(self, uow: UnitOfWork, job: EffectJob, result: dict[str, Any]) -> None:
        uow.publish(
            CustomerUpdated(customer_id=f"cus_{job.key}", changes={"done": result}),
            tenant_id=job.tenant_id,
            subject=f"cus_{job.key}",
        )

    def on_failed(self, uow: UnitOfWork, job: EffectJob, failure: EffectFailed) -> None:
        uow.publish(
            CustomerUpdated(
                customer_id=f"cus_{job.key}",
                changes={"failed": failure.message, "code": failure.code, "gave_up": failure.gave_up},
            ),
            tenant_id=job.tenant_id,
            subject=f"cus_{job.key}",
        )


@dataclass
class HangingService:
    """An outside service that answers nothing until ``answer`` is set; counts the calls waiting on it."""

    answer: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: int = 0
    most_waiting: int = 0

    async def perform(self, job: EffectJob, read: Reader) -> dict[str, Any]:
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        try:
            await self.answer.wait()
        finally:
            self.waiting -= 1
        return {}


@pytest.fixture
def outside() -> Outside:
    return Outside()


@pytest.fixture
def hanging() -> HangingService:
    return HangingService()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "effect_retry_base_seconds": 0.01,
            "effect_max_attempts": 3,
            "effect_poll_seconds": 0.02,
            "effect_lease_seconds": 30.0,
        }
    )


@pytest.fixture
async def runtime(settings: Settings, outside: Outside, hanging: HangingService) -> AsyncIterator[Runtime]:
    """A started runtime whose effect kinds call ``outside`` and ``hanging`` (no subscriptions)."""
    effects = EffectRegistry()
    effects.add(KIND, outside.perform, on_done=outside.on_done, on_failed=outside.on_failed)
    effects.add(HANGING, hanging.perform)
    runtime = Runtime.build(settings, subscriptions=SubscriptionRegistry(), effects=effects)
    await runtime.db.start()
    if runtime.db.driver == "sqlite":
        await upgrade(runtime.db)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


def runner_of(runtime: Runtime) -> EffectRunner:
    assert runtime.effect_runner is not None
    return runtime.effect_runner


def enqueue(key: str, n: int = 1) -> Any:
    def write(uow: UnitOfWork) -> bool:
        return enqueue_effect(uow, tenant_id=TENANT, kind=KIND, key=key, payload={"n": n})

    return write


async def effect(runtime: Runtime, key: str) -> EffectRecord:
    def query(session: Session) -> EffectRecord | None:
        return session.scalar(select(EffectRecord).where(EffectRecord.kind == KIND, EffectRecord.key == key))

    row = await runtime.db.read(query)
    assert row is not None, f"no effect {key}"
    return row


async def updates(runtime: Runtime) -> list[dict[str, Any]]:
    events = await runtime.db.read(
        lambda session: read_events(session, after=0, limit=1000, types=["customer.updated"])
    )
    return [event.data["changes"] for event in events]


async def wait_until(check: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


async def test_an_effect_runs_after_commit_and_records_its_outcome_with_its_events(
    runtime: Runtime, outside: Outside
) -> None:
    assert await runtime.db.write(enqueue("a", 7)) is True

    async def done() -> bool:
        return (await effect(runtime, "a")).status == "done"

    await wait_until(done)  # the runner's own loop picks it up
    row = await effect(runtime, "a")
    assert row.result == {"echo": 7, "attempt": 1}
    assert (row.attempts, row.claimed_by, row.last_error) == (1, None, "")
    assert outside.calls == [("a", 1)]
    assert await updates(runtime) == [{"done": {"echo": 7, "attempt": 1}}]


async def test_an_effect_enqueued_in_a_rolled_back_transaction_never_runs(
    runtime: Runtime, outside: Outside
) -> None:
    def enqueue_then_fail(uow: UnitOfWork) -> None:
        enqueue("rolled-back")(uow)
        raise ValueError("the change that wanted the effect failed")

    with pytest.raises(ValueError):
        await runtime.db.write(enqueue_then_fail)
    await runner_of(runtime).drain()
    await asyncio.sleep(0.1)
    assert outside.calls == []
    assert await runtime.db.read(lambda session: list_effects(session)) == []


async def test_a_duplicate_key_is_enqueued_once(runtime: Runtime, outside: Outside) -> None:
    assert await runtime.db.write(enqueue("once", 1)) is True
    assert await runtime.db.write(enqueue("once", 2)) is False
    await runner_of(runtime).drain()
    # Also once it has run: the key stays taken.
    assert await runtime.db.write(enqueue("once", 3)) is False
    await runner_of(runtime).drain()
    assert outside.calls == [("once", 1)]
    [row] = await runtime.db.read(lambda session: list_effects(session))
    assert row.payload == {"n": 1}


async def test_a_failure_whose_message_holds_nul_is_kept_with_it_escaped(
    runtime: Runtime, outside: Outside
) -> None:
    outside.script = [EffectFailed("provider said \x00binary\x00", code="x")]
    await runtime.db.write(enqueue("binary"))
    await runner_of(runtime).drain()
    await asyncio.sleep(0.1)
    row = await effect(runtime, "binary")
    assert (row.status, row.last_error) == ("failed", "provider said \\x00binary\\x00 (code x)")


async def test_a_permanent_failure_is_not_retried(runtime: Runtime, outside: Outside) -> None:
    outside.script = [EffectFailed("number blocked", code="21610")]
    await runtime.db.write(enqueue("refused"))
    await runner_of(runtime).drain()
    await asyncio.sleep(0.1)
    row = await effect(runtime, "refused")
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error == "number blocked (code 21610)"
    assert outside.calls == [("refused", 1)]
    assert await updates(runtime) == [{"failed": "number blocked", "code": "21610", "gave_up": False}]


async def test_temporary_failures_are_retried_with_backoff_until_done(
    runtime: Runtime, outside: Outside
) -> None:
    outside.script = [ConnectionError("reset"), ConnectionError("reset")]
    await runtime.db.write(enqueue("flaky"))

    async def done() -> bool:
        return (await effect(runtime, "flaky")).status == "done"

    await wait_until(done)
    assert outside.calls == [("flaky", 1), ("flaky", 2), ("flaky", 3)]
    assert (await effect(runtime, "flaky")).result == {"echo": 1, "attempt": 3}


async def test_a_provider_asking_to_retry_later_is_not_tried_again_before_its_wait(
    runtime: Runtime, outside: Outside
) -> None:
    outside.script = [
        RetryLater("429 Too Many Requests", retry_after_s=120),
        RetryLater("503 Service Unavailable", retry_after_s=10 * MAX_RETRY_AFTER_S),
        None,
    ]
    await runtime.db.write(enqueue("throttled"))
    await runner_of(runtime).drain()
    first = await effect(runtime, "throttled")
    # The backoff alone would try again within a second; the provider asked for two minutes.
    assert (first.status, first.attempts, first.last_error) == ("pending", 1, "429 Too Many Requests")
    assert timedelta(seconds=119) < aware(first.next_attempt_at) - datetime.now(UTC) <= timedelta(seconds=120)

    async def run_again() -> EffectRecord:
        await runtime.db.write(lambda uow: make_due(uow, "throttled"))
        await runner_of(runtime).drain()
        return await effect(runtime, "throttled")

    # A wait beyond the cap is capped.
    second = await run_again()
    wait = aware(second.next_attempt_at) - datetime.now(UTC)
    assert (second.status, second.attempts) == ("pending", 2)
    assert timedelta(seconds=MAX_RETRY_AFTER_S - 5) < wait <= timedelta(seconds=MAX_RETRY_AFTER_S)
    third = await run_again()
    assert (third.status, third.result) == ("done", {"echo": 1, "attempt": 3})
    assert outside.calls == [("throttled", 1), ("throttled", 2), ("throttled", 3)]


def aware(moment: datetime) -> datetime:
    """A stored time as UTC (SQLite hands back naive datetimes)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def make_due(uow: UnitOfWork, key: str) -> None:
    row = uow.session.scalar(select(EffectRecord).where(EffectRecord.kind == KIND, EffectRecord.key == key))
    assert row is not None
    row.next_attempt_at = uow.clock.now()


async def test_an_effect_that_fails_every_attempt_is_dead_listed_and_retryable(
    runtime: Runtime, outside: Outside
) -> None:
    outside.script = [TimeoutError("slow")] * 3
    await runtime.db.write(enqueue("down"))

    async def dead() -> bool:
        return (await effect(runtime, "down")).status == "dead"

    await wait_until(dead)
    assert len(outside.calls) == 3
    [listed] = await runtime.db.read(lambda session: list_effects(session, status="dead"))
    assert (listed.key, listed.attempts, listed.last_error) == ("down", 3, "slow")
    [gave_up] = await updates(runtime)
    assert gave_up["gave_up"] is True and "gave up after 3 attempts" in gave_up["failed"]

    retried = await runtime.db.write(lambda uow: retry_effect(uow, effect_id=listed.id))
    assert (retried.status, retried.attempts) == ("pending", 0)

    async def done() -> bool:
        return (await effect(runtime, "down")).status == "done"

    await wait_until(done)
    assert await runtime.db.read(lambda session: list_effects(session, status="dead")) == []


async def test_a_claim_whose_runner_died_is_performed_again_once_it_expires(
    runtime: Runtime, outside: Outside
) -> None:
    await runner_of(runtime).stop()  # this test plays both runners by hand
    runner = runner_of(runtime)
    await runtime.db.write(enqueue("orphan"))

    # A runner claims the effect and dies before recording any outcome.
    [claimed] = await runtime.db.write(
        lambda uow: claim_due_effects(
            uow,
            registry=runtime.effects,
            policy=RetryPolicy(max_attempts=3),
            runner_id="crashed-runner",
            lease_s=0.5,
            limits={KIND: 10},
        )
    )
    assert claimed.attempt == 1
    row = await effect(runtime, "orphan")
    assert (row.status, row.claimed_by) == ("running", "crashed-runner")

    # While the claim holds, nobody else takes it.
    assert await runner.run_once() == 0
    await asyncio.sleep(0.6)
    await runner.drain()
    assert outside.calls == [("orphan", 2)]
    row = await effect(runtime, "orphan")
    assert (row.status, row.attempts, row.result) == ("done", 2, {"echo": 1, "attempt": 2})


async def test_a_slow_effect_does_not_hold_up_writes(runtime: Runtime, outside: Outside) -> None:
    outside.delay_s = 1.5
    await runtime.db.write(enqueue("slow"))

    async def started() -> bool:
        return bool(outside.calls)

    await wait_until(started)
    began = time.monotonic()
    await runtime.db.write(enqueue("meanwhile"))
    wrote_at = time.monotonic()
    assert wrote_at - began < 0.5
    await runner_of(runtime).drain()
    assert outside.finished_at[0] > wrote_at


async def test_two_runners_share_effects_and_each_runs_once(
    runtime: Runtime, settings: Settings, outside: Outside
) -> None:
    await runner_of(runtime).stop()
    for index in range(40):
        await runtime.db.write(enqueue(f"shared-{index}", index))
    runners = [
        EffectRunner(runtime.db, runtime.effects, policy=RetryPolicy(max_attempts=3), batch_size=5)
        for _ in range(2)
    ]
    await asyncio.gather(*(runner.drain() for runner in runners))
    assert sorted(key for key, _ in outside.calls) == sorted(f"shared-{index}" for index in range(40))
    assert {attempt for _, attempt in outside.calls} == {1}
    assert all(runner.stats.done for runner in runners)
    done = await runtime.db.read(lambda session: list_effects(session, status="done"))
    assert len(done) == 40


async def test_an_effect_whose_last_attempt_never_reported_goes_dead_without_running_again(
    runtime: Runtime, outside: Outside
) -> None:
    await runner_of(runtime).stop()
    await runtime.db.write(enqueue("crashy"))
    for attempt in range(1, 4):  # three runners in turn claim it and die
        [claimed] = await runtime.db.write(
            partial(
                claim_due_effects,
                registry=runtime.effects,
                policy=RetryPolicy(max_attempts=3),
                runner_id=f"crashed-{attempt}",
                lease_s=0.0,
                limits={KIND: 10},
            )
        )
        assert claimed.attempt == attempt
    await runner_of(runtime).drain()
    assert outside.calls == []
    row = await effect(runtime, "crashy")
    assert (row.status, row.attempts) == ("dead", 3)
    assert "claim ended without an outcome" in row.last_error
    [gave_up] = await updates(runtime)
    assert gave_up["gave_up"] is True


def enqueue_hanging(count: int) -> Any:
    def write(uow: UnitOfWork) -> None:
        for index in range(count):
            enqueue_effect(uow, tenant_id=TENANT, kind=HANGING, key=f"hang-{index}", payload={})

    return write


async def statuses(runtime: Runtime, kind: str) -> dict[str, int]:
    found = await runtime.db.read(lambda session: list_effects(session, kind=kind, limit=1000))
    counted: dict[str, int] = {}
    for row in found:
        counted[row.status] = counted.get(row.status, 0) + 1
    return counted


async def test_a_kind_whose_calls_hang_holds_only_its_own_slots_while_another_kinds_effects_complete(
    runtime: Runtime, outside: Outside, hanging: HangingService
) -> None:
    backlog = DEFAULT_CONCURRENCY + 8
    await runtime.db.write(enqueue_hanging(backlog))

    async def its_slots_are_full() -> bool:
        return hanging.waiting == DEFAULT_CONCURRENCY

    await wait_until(its_slots_are_full)
    for index in range(3):
        await runtime.db.write(enqueue(f"meanwhile-{index}", index))

    async def the_others_are_done() -> bool:
        return await statuses(runtime, KIND) == {"done": 3}

    await wait_until(the_others_are_done)
    assert sorted(key for key, _ in outside.calls) == ["meanwhile-0", "meanwhile-1", "meanwhile-2"]
    assert await statuses(runtime, HANGING) == {"running": DEFAULT_CONCURRENCY, "pending": 8}
    assert hanging.most_waiting == DEFAULT_CONCURRENCY

    hanging.answer.set()

    async def all_answered() -> bool:
        return await statuses(runtime, HANGING) == {"done": backlog}

    await wait_until(all_answered)
    assert hanging.most_waiting == DEFAULT_CONCURRENCY


async def test_a_kind_limited_to_two_never_has_more_than_two_in_flight(
    runtime: Runtime, hanging: HangingService
) -> None:
    runtime.effects.limit_concurrency({HANGING: 2})
    await runtime.db.write(enqueue_hanging(5))

    async def two_waiting() -> bool:
        return hanging.waiting == 2

    await wait_until(two_waiting)
    await asyncio.sleep(0.2)  # several polls of the runner: it claims no more
    assert await statuses(runtime, HANGING) == {"running": 2, "pending": 3}
    hanging.answer.set()
    await runner_of(runtime).drain()
    assert await statuses(runtime, HANGING) == {"done": 5}
    assert hanging.most_waiting == 2


def test_settings_set_a_kinds_in_flight_limit_and_the_others_keep_the_default(settings: Settings) -> None:
    limited = settings.model_copy(update={"effect_concurrency": {"email.send": 4}})
    effects = build_effects(limited, files=local_file_store(settings.data_dir))
    limits = {kind.kind: kind.concurrency for kind in effects}
    assert limits["email.send"] == 4
    assert {limit for kind, limit in limits.items() if kind != "email.send"} == {DEFAULT_CONCURRENCY}


def test_a_limit_for_an_unknown_kind_or_below_one_is_refused_naming_it(settings: Settings) -> None:
    with pytest.raises(ValueError, match=re.escape("cannot limit effect kind 'emial.send': not registered")):
        build_effects(
            settings.model_copy(update={"effect_concurrency": {"emial.send": 4}}),
            files=local_file_store(settings.data_dir),
        )
    with pytest.raises(ValidationError, match="effect_concurrency"):
        Settings(effect_concurrency={"email.send": 0})
    effects = EffectRegistry()
    with pytest.raises(ValueError, match=re.escape("'test.call': concurrency must be at least 1, got 0")):
        effects.add(KIND, Outside().perform, concurrency=0)
    effects.add(KIND, Outside().perform)
    with pytest.raises(ValueError, match=re.escape("'test.call': concurrency must be at least 1, got 0")):
        effects.limit_concurrency({KIND: 0})
    registered = effects.get(KIND)
    assert registered is not None and registered.concurrency == DEFAULT_CONCURRENCY


async def test_stopping_the_runtime_closes_each_performers_connections_once_even_when_one_close_fails(
    settings: Settings, outside: Outside
) -> None:
    closed: list[str] = []

    async def close_pool() -> None:
        closed.append("pool")

    async def close_broken() -> None:
        closed.append("broken")
        raise OSError("the connection was already reset")

    effects = EffectRegistry()
    effects.add(KIND, outside.perform, close=close_broken)
    effects.add("test.first", outside.perform, close=close_pool)
    effects.add("test.second", outside.perform, close=close_pool)  # one sender serving two kinds
    effects.add("test.plain", outside.perform)
    runtime = Runtime.build(settings, subscriptions=SubscriptionRegistry(), effects=effects)
    await runtime.db.start()
    if runtime.db.driver == "sqlite":
        await upgrade(runtime.db)
    await runtime.start()
    await runtime.db.write(enqueue("before-stop"))
    await runner_of(runtime).drain()
    assert closed == []
    await runtime.stop()
    assert closed == ["broken", "pool"]
    assert outside.calls == [("before-stop", 1)]
