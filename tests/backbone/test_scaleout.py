"""The scale-out driver end to end: the relay feeds NATS JetStream, workers are woken by it and share the
log's partitions, and ``cxstack serve`` with ``cxstack worker`` processes handles every event."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from benchmarks.harness import ServerProcess, free_port
from tests.backbone.scaleout_support import (
    PARTITIONS,
    assert_each_handled_once_in_subject_order,
    delete_stream,
    empty_database,
    eventually,
    fetch,
    handled_everything,
    logged,
    probe_registry,
    record_probes,
    require_nats,
    started_database,
    stream_messages,
    unique_prefix,
)
from typer.testing import CliRunner

from cxstack.backbone.database import Database
from cxstack.backbone.delivery import RetryPolicy
from cxstack.backbone.relay import Relay, event_subject
from cxstack.backbone.worker import Worker
from cxstack.cli.main import app
from cxstack.config import Settings
from cxstack.governance.tenants.service import create_tenant, issue_api_key
from cxstack.kit.files import local_file_store
from cxstack.routing.held import Routers
from cxstack.runtime import Runtime
from cxstack.wiring import build_catalog, build_subscriptions

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def nats_url() -> str:
    return require_nats()


@pytest.fixture
async def pg_url(pg_database: str) -> str:
    await empty_database(pg_database)
    return pg_database


@pytest.fixture
async def prefix(nats_url: str) -> AsyncIterator[str]:
    prefix = unique_prefix()
    yield prefix
    await delete_stream(nats_url, prefix)


def _output(result: object) -> str:
    return " ".join(str(getattr(result, "output", "")).split())


def test_worker_refuses_on_the_embedded_driver(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["worker"],
        env={"CXSTACK_DATABASE_URL": f"sqlite:///{tmp_path / 'cx.db'}", "CXSTACK_NATS_URL": None},
    )
    assert result.exit_code == 2
    assert "`cxstack serve` runs the event handlers and timers itself" in _output(result)


def test_worker_refuses_postgresql_without_a_broker() -> None:
    result = CliRunner().invoke(
        app,
        ["worker"],
        env={"CXSTACK_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/none", "CXSTACK_NATS_URL": None},
    )
    assert result.exit_code == 2
    assert "CXSTACK_NATS_URL" in _output(result)


def test_worker_has_help() -> None:
    result = CliRunner().invoke(app, ["worker", "--help"])
    assert result.exit_code == 0
    assert "scale-out" in _output(result)


def test_settings_choose_what_each_process_runs() -> None:
    embedded = Runtime.build(Settings(database_url="sqlite:///./unused.db", nats_url=None))
    assert embedded.bus is not None and embedded.relay is None and embedded.worker is None
    scale_out = Settings(database_url="postgresql://db/cx", nats_url="nats://127.0.0.1:4222")
    server = Runtime.build(scale_out)
    assert server.relay is not None and server.worker is None and server.bus is None
    worker = Runtime.build(scale_out, role="worker")
    assert worker.worker is not None and worker.relay is None
    both = Runtime.build(scale_out.model_copy(update={"run_workers_in_server": True}))
    assert both.relay is not None and both.worker is not None
    with pytest.raises(ValueError, match="scale-out"):
        Runtime.build(Settings(database_url="sqlite:///./unused.db"), role="worker")


# -- in one process: relay and two workers woken by the stream -----------------------------------------


async def test_workers_woken_by_the_stream_handle_every_event_once(
    pg_url: str, nats_url: str, prefix: str
) -> None:
    writer = await started_database(pg_url, partitions=PARTITIONS)
    relay = Relay(writer, nats_url=nats_url, prefix=prefix, poll_s=0.05, retry_s=0.1)
    workers: list[Worker] = []
    databases: list[Database] = [writer]
    try:
        await relay.start()
        for name in ("worker-a", "worker-b"):
            db = await started_database(pg_url, partitions=PARTITIONS)
            databases.append(db)
            # Polling once a minute: within the test only a message from the stream can wake a worker.
            worker = Worker(
                db,
                probe_registry(name),
                policy=RetryPolicy(),
                nats_url=nats_url,
                prefix=prefix,
                lease_s=1.5,
                idle_poll_s=60.0,
                worker_id=name,
            )
            await worker.start()
            workers.append(worker)
        a, b = workers

        async def ready() -> bool:
            subscribed = all(w.wake_ups is not None and w.wake_ups.subscribed.is_set() for w in workers)
            return subscribed and len(a.leases.held) == len(b.leases.held) == PARTITIONS // 2

        await eventually(ready)
        # Let the last lease changes' wake-ups find nothing to do, so what follows is the stream's doing.
        await asyncio.sleep(0.3)
        subjects = [f"cus_{i}" for i in range(30)]
        for round_ in range(4):
            await record_probes(writer, subjects, start=round_ * len(subjects))
        await eventually(lambda: handled_everything(pg_url), timeout_s=10.0)
    finally:
        for worker in workers:
            await worker.stop()
        await relay.stop()
        for db in databases:
            await db.stop()

    handled = await assert_each_handled_once_in_subject_order(pg_url)
    assert {h.worker for h in handled} == {"worker-a", "worker-b"}
    recorded = await logged(pg_url, "probe.recorded")
    published = {m.headers["Nats-Msg-Id"]: m.subject for m in await stream_messages(nats_url, prefix)}
    for row in recorded:
        assert published[row["id"]] == event_subject(prefix, row["partition"], "probe.recorded")


# -- processes: cxstack serve and two cxstack worker ---------------------------------------------------


class Processes:
    """``cxstack worker`` subprocesses of one test."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.running: list[subprocess.Popen[bytes]] = []

    def start_worker(self, log: Path) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "cxstack.cli.main", "worker"],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.running.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.kill()
            process.wait()


@pytest.fixture
def scale_out_env(pg_url: str, nats_url: str, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "CXSTACK_DATABASE_URL": pg_url,
        "CXSTACK_NATS_URL": nats_url,
        "CXSTACK_STREAM_PREFIX": prefix,
        "CXSTACK_LEASE_SECONDS": "2",
        "CXSTACK_LOG_LEVEL": "warning",
    }


@pytest.fixture
def processes(scale_out_env: dict[str, str]) -> Iterator[Processes]:
    running = Processes(scale_out_env)
    yield running
    running.stop_all()


async def make_api_key(pg_url: str) -> str:
    db = Database(pg_url, catalog=build_catalog())
    await db.start()
    try:

        def create(uow):  # type: ignore[no-untyped-def]
            tenant = create_tenant(uow, name="Acme", slug="acme")
            return issue_api_key(uow, tenant_id=tenant.id, name="scale-out test").key

        key: str = await db.write(create)
        return key
    finally:
        await db.stop()


async def timeline_backlog(pg_url: str) -> set[str]:
    """Ids of the events the timeline subscribes to that it has not processed yet."""
    types = sorted(
        build_subscriptions(Settings(), files=local_file_store(Path("unused")), routers=Routers())
        .get("records.timeline")
        .types
    )
    rows = await fetch(
        pg_url,
        "SELECT id FROM events WHERE type = ANY($1::text[]) AND id NOT IN "
        "(SELECT event_id FROM processed_events WHERE subscription = 'records.timeline')",
        types,
    )
    return {row["id"] for row in rows}


async def create_customers(http: httpx.AsyncClient, first: int, count: int) -> list[str]:
    ids = []
    for n in range(first, first + count):
        response = await http.post("/v1/customers", json={"name": f"Customer {n}"})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def worker_owners(pg_url: str) -> set[str | None]:
    rows = await fetch(
        pg_url, "SELECT DISTINCT owner FROM subscription_positions WHERE subscription = 'records.timeline'"
    )
    return {row["owner"] for row in rows}


@pytest.mark.timeout(180)
async def test_serve_and_two_worker_processes_handle_every_event(
    pg_url: str,
    nats_url: str,
    prefix: str,
    scale_out_env: dict[str, str],
    processes: Processes,
    tmp_path: Path,
) -> None:
    key = await make_api_key(pg_url)
    port = free_port()
    serve = ServerProcess(
        [sys.executable, "-m", "cxstack.cli.main", "serve", "--port", str(port)],
        ready_url=f"http://127.0.0.1:{port}/healthz",
        env=scale_out_env,
        cwd=PROJECT_ROOT,
        start_timeout_s=60,
    )
    with serve:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, trust_env=False
        ) as http:
            customers = await create_customers(http, 0, 10)

            # serve relays the log to the stream, and handles nothing itself.
            async def relayed() -> bool:
                return (
                    sum(m.body["type"] == "customer.created" for m in await stream_messages(nats_url, prefix))
                    == 10
                )

            await eventually(relayed, timeout_s=30)
            assert len(await timeline_backlog(pg_url)) >= 10

            workers = [processes.start_worker(tmp_path / f"worker-{i}.log") for i in range(2)]

            async def two_workers_share_the_work() -> bool:
                live = {row["id"] for row in await fetch(pg_url, "SELECT id FROM bus_workers")}
                return len(live) == 2 and await worker_owners(pg_url) == live

            await eventually(two_workers_share_the_work, timeout_s=60)
            customers += await create_customers(http, 10, 20)

            async def caught_up() -> bool:
                return not await timeline_backlog(pg_url)

            await eventually(caught_up, timeout_s=30)
            await assert_one_creation_entry_each(http, customers)

            # One worker dies without handing its leases back; the other takes its partitions over.
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait()
            customers += await create_customers(http, 30, 10)
            await eventually(caught_up, timeout_s=30)

            async def survivor_holds_everything() -> bool:
                owners = await worker_owners(pg_url)
                return len(owners) == 1 and None not in owners

            await eventually(survivor_holds_everything, timeout_s=30)
            # A clean stop hands the leases back at once.
            workers[1].send_signal(signal.SIGTERM)
            assert workers[1].wait(timeout=30) == 0
            assert await worker_owners(pg_url) == {None}
            await assert_one_creation_entry_each(http, customers)
    assert len(await logged(pg_url, "customer.created")) == len(customers) == 40


async def assert_one_creation_entry_each(http: httpx.AsyncClient, customers: list[str]) -> None:
    """Each customer's timeline shows its creation exactly once: every event was handled, none twice."""
    for customer_id in customers:
        response = await http.get(f"/v1/customers/{customer_id}/timeline")
        assert response.status_code == 200, response.text
        summaries = [entry["summary"] for entry in response.json()["data"]]
        assert sum(s.startswith("Customer record created") for s in summaries) == 1, summaries
