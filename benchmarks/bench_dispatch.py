"""Measure event dispatch alone: from the embedded (SQLite) event log to in-process handlers, no HTTP.

Two measurements:

- throughput: N events already in the log (appended 1,000 per unit of work, each of its own subject) are
  delivered by a ``Bus`` to one no-op subscription, then to three, then to eight, all of the same event
  type; events/s is N over the time until every subscription had them all;
- latency: events published one per unit of work at a steady rate (``CXSTACK_BENCH_DISPATCH_RATE`` a second,
  and 1,000 a second, for ``CXSTACK_BENCH_DURATION`` seconds each) while the bus runs; each carries the time
  it was published, and the handler notes how long ago that was: publish to handler, p50 and p99. The
  writes and the deliveries share the one SQLite writer, so at a rate near its capacity the latency is
  mostly queueing.

``CXSTACK_BENCH_DISPATCH_EVENTS`` sets N (default 200,000).
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

from benchmarks.harness import bench_duration, write_result
from cxstack.backbone.consumer import Bus
from cxstack.backbone.envelope import Event
from cxstack.backbone.migrate import upgrade
from cxstack.backbone.subscriptions import EventHandlers, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.records.customers.schemas import CustomerUpdated
from cxstack.runtime import Runtime

EVENTS_ENV = "CXSTACK_BENCH_DISPATCH_EVENTS"
RATE_ENV = "CXSTACK_BENCH_DISPATCH_RATE"
DEFAULT_EVENTS = 200_000
DEFAULT_RATE = 5_000
LOW_RATE = 1_000
APPEND_BATCH = 1_000
TENANT = "ten_bench"
TARGET_EVENTS_PER_S = 20_000
#: How many subscriptions of the same events each throughput run delivers to.
SUBSCRIPTION_COUNTS = (1, 3, 8)


def _count_from_env(name: str, default: int) -> int:
    """Return the positive integer in the environment variable ``name``; raises ValueError if invalid."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


def _ignore(uow: UnitOfWork, data: CustomerUpdated, event: Event) -> None:
    """A handler that does nothing: what is measured is the bus's own work."""


def _registry(names: list[str]) -> SubscriptionRegistry:
    registry = SubscriptionRegistry()
    for name in names:
        registry.add(name, EventHandlers({CustomerUpdated: _ignore}))
    return registry


async def _runtime(path: Path, registry: SubscriptionRegistry) -> Runtime:
    settings = Settings(database_url=f"sqlite:///{path}", data_dir=path.parent)
    runtime = Runtime.build(settings, subscriptions=registry, run_bus=False)
    await runtime.db.start()
    await upgrade(runtime.db)
    return runtime


def _bus(runtime: Runtime, registry: SubscriptionRegistry) -> Bus:
    settings = runtime.settings
    return Bus(
        runtime.db,
        registry,
        policy=runtime.retry_policy,
        batch_size=settings.dispatch_batch_size,
        timer_poll_s=settings.timer_poll_seconds,
        run_timers=False,
    )


async def _append(runtime: Runtime, count: int) -> float:
    """Append ``count`` events, ``APPEND_BATCH`` per unit of work; return events/s."""

    def write(uow: UnitOfWork, first: int, last: int) -> None:
        for n in range(first, last):
            subject = f"cus_{n}"
            uow.publish(
                CustomerUpdated(customer_id=subject, changes={"n": n}), tenant_id=TENANT, subject=subject
            )

    started = time.perf_counter()
    for first in range(0, count, APPEND_BATCH):
        last = min(count, first + APPEND_BATCH)
        await runtime.db.write(partial(write, first=first, last=last))
    return count / (time.perf_counter() - started)


async def _throughput(count: int) -> dict[str, float]:
    groups = {size: [f"bench.{size}.{n}" for n in range(size)] for size in SUBSCRIPTION_COUNTS}
    with tempfile.TemporaryDirectory(prefix="cxstack-bench-dispatch-") as directory:
        every = [name for names in groups.values() for name in names]
        runtime = await _runtime(Path(directory) / "dispatch.db", _registry(every))
        try:
            rates = {"append": await _append(runtime, count)}
            for size, names in groups.items():
                bus = _bus(runtime, _registry(names))
                started = time.perf_counter()
                await bus.drain(timeout_s=3600)
                rates[f"dispatch_{size}"] = count / (time.perf_counter() - started)
        finally:
            await runtime.stop()
    return rates


async def _latency(rate: int, duration_s: int) -> tuple[list[float], float]:
    """Publish ``rate`` events a second, one per unit of work, for ``duration_s``; return the publish to
    handler latencies in ms and the publish rate reached."""
    latencies: list[float] = []

    def measure(uow: UnitOfWork, data: CustomerUpdated, event: Event) -> None:
        latencies.append((time.perf_counter_ns() - data.changes["sent_ns"]) / 1e6)

    registry = SubscriptionRegistry()
    registry.add("bench.latency", EventHandlers({CustomerUpdated: measure}))
    with tempfile.TemporaryDirectory(prefix="cxstack-bench-latency-") as directory:
        runtime = await _runtime(Path(directory) / "latency.db", registry)
        bus = _bus(runtime, registry)
        await bus.start()
        # As `cxstack serve` does after start-up: what is alive now is long-lived, out of the collector's way.
        gc.collect()
        gc.freeze()
        try:

            def publish(uow: UnitOfWork, n: int) -> None:
                subject = f"cus_{n}"
                uow.publish(
                    CustomerUpdated(customer_id=subject, changes={"sent_ns": time.perf_counter_ns()}),
                    tenant_id=TENANT,
                    subject=subject,
                )

            tick_s = 0.01
            per_tick = max(1, round(rate * tick_s))
            writes: list[asyncio.Future[None]] = []
            started = time.perf_counter()
            ticks = round(duration_s / tick_s)
            for tick in range(ticks):
                for k in range(per_tick):
                    n = tick * per_tick + k
                    writes.append(asyncio.ensure_future(runtime.db.write(partial(publish, n=n))))
                await asyncio.sleep(max(0.0, started + (tick + 1) * tick_s - time.perf_counter()))
            await asyncio.gather(*writes)
            reached = len(writes) / (time.perf_counter() - started)
            for _ in range(1000):
                if len(latencies) >= len(writes):
                    break
                await asyncio.sleep(0.01)
        finally:
            gc.unfreeze()
            await bus.stop()
            await runtime.stop()
    return latencies, reached


def main() -> None:
    """Measure dispatch throughput and latency and write `results/dispatch.json`."""
    count = _count_from_env(EVENTS_ENV, DEFAULT_EVENTS)
    rate = _count_from_env(RATE_ENV, DEFAULT_RATE)
    duration_s = bench_duration()
    throughput = asyncio.run(_throughput(count))
    latencies, reached = asyncio.run(_latency(rate, duration_s))
    cuts = statistics.quantiles(latencies, n=100)
    low_latencies, _ = asyncio.run(_latency(LOW_RATE, duration_s))
    low_cuts = statistics.quantiles(low_latencies, n=100)
    figures: dict[str, tuple[float, str]] = {
        f"dispatch_{size}_subscription{'s' if size > 1 else ''}": (throughput[f"dispatch_{size}"], "events/s")
        for size in SUBSCRIPTION_COUNTS
    }
    write_result(
        "dispatch",
        {
            **figures,
            "latency_p50": (cuts[49], "ms"),
            "latency_p99": (cuts[98], "ms"),
            "publish_rate": (reached, "events/s"),
            f"latency_p50_at_{LOW_RATE}_per_s": (low_cuts[49], "ms"),
            f"latency_p99_at_{LOW_RATE}_per_s": (low_cuts[98], "ms"),
            "append": (throughput["append"], "events/s"),
        },
        notes={
            "events": count,
            "append_batch": APPEND_BATCH,
            "dispatch_batch_size": Settings().dispatch_batch_size,
            "target_events_per_s": TARGET_EVENTS_PER_S,
            "latency_rate_per_s": rate,
            "latency_duration_s": duration_s,
            "latency_samples": len(latencies),
            "latency_max_ms": max(latencies),
            "latency_max_ms_at_low_rate": max(low_latencies),
            "subscription_counts": list(SUBSCRIPTION_COUNTS),
            "note": "n subscriptions: events/s is events over the time until all n had them all",
        },
    )
