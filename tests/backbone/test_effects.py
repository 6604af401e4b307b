"""Effects: jobs that act on the outside world after commit, at least once, with retries, on both drivers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.backbone.delivery import RetryPolicy
from cxstack.backbone.effect_runner import EffectRunner
from cxstack.backbone.effects import (
    EffectFailed,
    EffectJob,
    EffectRegistry,
    Reader,
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
from cxstack.records.customers.schemas import CustomerUpdated
from cxstack.runtime import Runtime

TENANT = "ten_effects"
KIND = "test.call"


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
            "customer.updated",
            tenant_id=job.tenant_id,
            subject=f"cus_{job.key}",
            data=CustomerUpdated(customer_id=f"cus_{job.key}", changes={"done": result}),
        )

    def on_failed(self, uow: UnitOfWork, job: EffectJob, failure: EffectFailed) -> None:
        uow.publish(
            "customer.updated",
            tenant_id=job.tenant_id,
            subject=f"cus_{job.key}",
            data=CustomerUpdated(
                customer_id=f"cus_{job.key}",
                changes={"failed": failure.message, "code": failure.code, "gave_up": failure.gave_up},
            ),
        )


@pytest.fixture
def outside() -> Outside:
    return Outside()


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
async def runtime(settings: Settings, outside: Outside) -> AsyncIterator[Runtime]:
    """A started runtime whose only effect kind calls ``outside`` (no subscriptions)."""
    effects = EffectRegistry()
    effects.add(KIND, outside.perform, on_done=outside.on_done, on_failed=outside.on_failed)
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
            limit=10,
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
                limit=10,
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
