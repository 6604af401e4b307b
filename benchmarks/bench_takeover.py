"""How long a worker's partitions stall when it goes away: after `kill -9` and after a clean stop (SIGTERM).

Two `cxstack worker` processes share the log's partitions (scale-out driver: PostgreSQL + NATS JetStream;
the relay runs in this process, so the workers are woken by the stream as behind `cxstack serve`). A
customer is created every 20 ms, so every partition keeps getting `customer.created` events for the
`records.timeline` subscription. Once both workers have handled everything, one of them is sent SIGKILL
(it dies holding its leases) or SIGTERM (it stops and hands them back), and this measures, from the
signal:

- `taken_over`: until the other worker handles the first event of a partition the first one held: an
  event of such a partition processed by the timeline no earlier than the other worker claimed that
  partition (its lease row's claim time, the database's `now()` at the claim);
- `all_leases`: until the other worker holds every timeline partition the first one held.

Each is measured `CXSTACK_BENCH_TAKEOVER_TRIALS` times (default 3) with the lease length the code's
settings default to (`CXSTACK_LEASE_SECONDS`); the figures are the median, and every trial is in the notes.

Needs PostgreSQL (`CXSTACK_BENCH_DATABASE_URL`, a database `cxstack_bench_<pid>` is created and dropped)
and NATS (`CXSTACK_BENCH_NATS_URL`), as `pipeline_scaleout` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.bench_pipeline_scaleout import (
    DATABASE_ENV,
    DEFAULT_DATABASE_URL,
    DEFAULT_NATS_URL,
    NATS_ENV,
    _delete_stream,
    _query,
    fresh_database,
)
from benchmarks.harness import PROJECT_ROOT, write_result
from cxstack.backbone.database import Database
from cxstack.backbone.migrate import upgrade
from cxstack.backbone.relay import Relay
from cxstack.config import Settings
from cxstack.governance.tenants.service import create_tenant
from cxstack.records.customers.schemas import CustomerCreate
from cxstack.records.customers.service import create_customer
from cxstack.wiring import build_catalog

NAME = "takeover"
TRIALS_ENV = "CXSTACK_BENCH_TAKEOVER_TRIALS"
DEFAULT_TRIALS = 3
SUBSCRIPTION = "records.timeline"
PUBLISH_EVERY_S = 0.02
GIVE_UP_S = 60.0
POLL_S = 0.01
START_TIMEOUT_S = 180.0


def _trials() -> int:
    raw = os.environ.get(TRIALS_ENV, "").strip()
    if not raw:
        return DEFAULT_TRIALS
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"{TRIALS_ENV} must be a positive integer, got {raw!r}")
    return int(raw)


async def _prepare(url: str) -> str:
    """Migrate the fresh database and create the tenant the customers belong to; return its id."""
    db = Database(url, catalog=build_catalog())
    await db.start()
    try:
        await upgrade(db)
        tenant = await db.write(lambda uow: create_tenant(uow, name="Bench", slug="bench"))
        return tenant.id
    finally:
        await db.stop()


class Workers:
    """Two `cxstack worker` processes; on exit every one still running is killed."""

    def __init__(self, env: dict[str, str], directory: Path) -> None:
        self.env = env
        self.directory = directory
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, count: int) -> None:
        for i in range(count):
            with (self.directory / f"worker-{len(self.processes)}-{i}.log").open("wb") as log:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "cxstack.cli.main", "worker"],
                        cwd=PROJECT_ROOT,
                        env=self.env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )

    def failed(self) -> str | None:
        for process in self.processes:
            if process.poll() is not None and process.returncode not in (0, -signal.SIGKILL):
                logs = sorted(self.directory.glob("worker-*.log"))
                return "\n".join(path.read_text(errors="replace")[-2000:] for path in logs)
        return None

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()


async def _owners(url: str) -> dict[int, tuple[str | None, datetime | None]]:
    rows = await _query(
        url,
        "SELECT partition, owner, lease_expires_at FROM subscription_positions WHERE subscription = $1",
        SUBSCRIPTION,
    )
    return {row["partition"]: (row["owner"], row["lease_expires_at"]) for row in rows}


async def _caught_up(url: str) -> bool:
    """Whether the timeline has handled every customer created more than a second ago."""
    rows = await _query(
        url,
        "SELECT count(*) AS n FROM events e WHERE e.type = 'customer.created' "
        "AND e.time < now() - interval '1 second' AND NOT EXISTS "
        "(SELECT 1 FROM processed_events p WHERE p.subscription = $1 AND p.event_id = e.id)",
        SUBSCRIPTION,
    )
    return int(rows[0]["n"]) == 0


async def _trial(url: str, nats_url: str, tenant_id: str, signum: int, lease_s: float) -> dict[str, float]:
    """Start two workers, send ``signum`` to one once both are busy, and time the other's takeover."""
    await _query(url, "UPDATE subscription_positions SET owner = NULL, lease_expires_at = NULL")
    await _query(url, "DELETE FROM bus_workers")
    prefix = f"cxbench_takeover_{os.getpid()}"
    env = {
        **os.environ,
        "CXSTACK_DATABASE_URL": url,
        "CXSTACK_NATS_URL": nats_url,
        "CXSTACK_STREAM_PREFIX": prefix,
        "CXSTACK_LOG_LEVEL": "warning",
    }
    db = Database(url, catalog=build_catalog())
    await db.start()
    relay = Relay(db, nats_url=nats_url, prefix=prefix, poll_s=0.05)
    await relay.start()
    stop_publishing = asyncio.Event()

    async def publish() -> None:
        while not stop_publishing.is_set():
            await db.write(lambda uow: create_customer(uow, tenant_id=tenant_id, data=CustomerCreate()))
            await asyncio.sleep(PUBLISH_EVERY_S)

    with tempfile.TemporaryDirectory(prefix="cxstack-takeover-") as directory:
        workers = Workers(env, Path(directory))
        publisher = asyncio.create_task(publish())
        try:
            workers.start(2)
            async with asyncio.timeout(START_TIMEOUT_S):
                while True:
                    if (error := workers.failed()) is not None:
                        raise RuntimeError(f"a worker exited:\n{error}")
                    live = {row["id"] for row in await _query(url, "SELECT id FROM bus_workers")}
                    held = {owner for owner, _ in (await _owners(url)).values()}
                    if len(live) == 2 and held == live and await _caught_up(url):
                        break
                    await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # both busy, their stream consumers subscribed
            owners = await _owners(url)
            # The first worker that holds timeline partitions (balancing gives both some).
            victim, victim_id, orphaned = next(
                (process, worker, partitions)
                for process in workers.processes
                for worker in live
                if f":{process.pid}:" in worker
                and (partitions := {p for p, (owner, _) in owners.items() if owner == worker})
            )
            signalled = datetime.now(UTC)
            started = time.monotonic()
            victim.send_signal(signum)
            claimed: dict[int, datetime] = {}
            taken_over: float | None = None
            all_leases: float | None = None
            while taken_over is None or all_leases is None:
                if time.monotonic() - started > GIVE_UP_S:
                    raise RuntimeError(f"no takeover within {GIVE_UP_S:.0f} s")
                for partition, (owner, expires) in (await _owners(url)).items():
                    if partition in orphaned and partition not in claimed and owner not in (None, victim_id):
                        assert expires is not None
                        claimed[partition] = expires - timedelta(seconds=lease_s)
                if all_leases is None and set(claimed) == orphaned:
                    all_leases = time.monotonic() - started
                if taken_over is None and claimed:
                    rows = await _query(
                        url,
                        "SELECT e.partition, p.processed_at FROM processed_events p JOIN events e "
                        "ON e.id = p.event_id WHERE p.subscription = $1 AND e.partition = ANY($2::int[]) "
                        "AND p.processed_at >= $3",
                        SUBSCRIPTION,
                        sorted(claimed),
                        signalled,
                    )
                    handled = [
                        row["processed_at"]
                        for row in rows
                        if row["processed_at"] >= claimed[row["partition"]]
                    ]
                    if handled:
                        taken_over = (min(handled) - signalled).total_seconds()
                await asyncio.sleep(POLL_S)
            exited = await asyncio.to_thread(victim.wait, 30)
            return {
                "taken_over": taken_over,
                "all_leases": all_leases,
                "victim_exit_code": float(exited),
                "partitions": float(len(orphaned)),
            }
        finally:
            stop_publishing.set()
            with contextlib.suppress(Exception):
                await publisher
            for process in workers.processes:
                if process.poll() is None:
                    process.terminate()
            for process in workers.processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    await asyncio.to_thread(process.wait, 30)
            workers.close()
            await relay.stop()
            await db.stop()
            await _delete_stream(nats_url, prefix)


def main() -> None:
    """Measure takeover after kill -9 and after SIGTERM and write `results/takeover.json`."""
    server_url = os.environ.get(DATABASE_ENV, DEFAULT_DATABASE_URL)
    nats_url = os.environ.get(NATS_ENV, DEFAULT_NATS_URL)
    trials = _trials()
    lease_s = Settings().lease_seconds
    results: dict[str, list[dict[str, float]]] = {"kill": [], "sigterm": []}
    with fresh_database(server_url) as url:
        tenant_id = asyncio.run(_prepare(url))
        for _ in range(trials):
            for scenario, signum in (("kill", signal.SIGKILL), ("sigterm", signal.SIGTERM)):
                results[scenario].append(asyncio.run(_trial(url, nats_url, tenant_id, signum, lease_s)))

    def median(scenario: str, figure: str) -> float:
        return statistics.median(trial[figure] for trial in results[scenario])

    write_result(
        NAME,
        {
            "takeover_after_kill": (median("kill", "taken_over"), "s"),
            "all_leases_after_kill": (median("kill", "all_leases"), "s"),
            "takeover_after_sigterm": (median("sigterm", "taken_over"), "s"),
            "all_leases_after_sigterm": (median("sigterm", "all_leases"), "s"),
        },
        notes={
            "lease_s": lease_s,
            "trials": trials,
            "kill_trials": results["kill"],
            "sigterm_trials": results["sigterm"],
            "publish_every_s": PUBLISH_EVERY_S,
            "subscription": SUBSCRIPTION,
            "note": "seconds from the signal; figures are the median of the trials",
        },
    )
