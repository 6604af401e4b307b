"""The message pipeline on the scale-out driver: PostgreSQL + NATS JetStream, one and then two workers.

Messages are POSTed to conversations over HTTP (`cxstack serve`: the message and its `message.received`
event commit together), the relay publishes the event to JetStream, and `cxstack worker` processes deliver
it to the `records.timeline` subscription. The load is spread over conversations in distinct log
partitions (one wrk per conversation), since one conversation's events are handled in order by one worker.

For workers=1 and workers=2, two phases:
- live: messages arrive while the workers handle them: intake throughput, request latency p50/p99,
  dispatch lag p50/p99 (from each message's event time, taken before its request commits, to its handling)
  and its broker-and-worker part, publish-to-handled p50/p99 (from JetStream storing the event);
- backlog: 10,000 messages are posted (in process, many per transaction) while the workers are paused
  (SIGSTOP), then the resumed workers catch up: the backlog drain rate, what the handling side alone does.
Latency across the parallel wrk runs is merged approximately: p50 is the request-weighted mean of the runs'
p50s, p99 the worst p99.

Needs a PostgreSQL server (`CXSTACK_BENCH_DATABASE_URL`, default
postgresql://postgres@127.0.0.1:5432/postgres; a database `cxstack_bench_<pid>` is created on it and dropped
afterwards) and NATS with JetStream (`CXSTACK_BENCH_NATS_URL`, default nats://127.0.0.1:4222).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

from benchmarks.ceiling import MESSAGE_BODY, measure_ceiling
from benchmarks.harness import (
    PROJECT_ROOT,
    ServerProcess,
    WrkResult,
    bench_connections,
    bench_duration,
    free_port,
    run_wrk,
    write_result,
)
from cxstack.backbone.database import Database
from cxstack.backbone.relay import stream_name
from cxstack.backbone.unit_of_work import UnitOfWork, partition_of
from cxstack.governance.tenants.service import create_tenant, issue_api_key
from cxstack.records.conversations.schemas import MessageCreate
from cxstack.records.conversations.service import post_message
from cxstack.wiring import build_catalog

NAME = "pipeline_scaleout"
DATABASE_ENV = "CXSTACK_BENCH_DATABASE_URL"
NATS_ENV = "CXSTACK_BENCH_NATS_URL"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
SUBSCRIPTION = "records.timeline"
PARTITIONS = 16
#: Conversations loaded in parallel, each in a log partition of its own.
CONVERSATIONS = 8
WORKER_COUNTS = (1, 2)
LEASE_SECONDS = 3
DRAIN_TIMEOUT_S = 120.0
#: Messages posted while the workers are paused, and how many go in one transaction.
BACKLOG_MESSAGES = 10_000
BACKLOG_BATCH = 250


# --- the database and the broker --------------------------------------------------------------------


def _server_and_name(url: str) -> tuple[str, str]:
    base, _, name = url.rpartition("/")
    return base, name


async def _admin(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """Create `cxstack_bench_<pid>` on the server of `server_url`, yield its URL, drop it afterwards."""
    name = f"cxstack_bench_{os.getpid()}"
    asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield f"{_server_and_name(server_url)[0]}/{name}"
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _delete_stream(nats_url: str, prefix: str) -> None:
    client = await nats.connect(nats_url)
    try:
        with contextlib.suppress(NotFoundError):
            await client.jetstream().delete_stream(stream_name(prefix))
    finally:
        await client.close()


async def _query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()


def query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    return asyncio.run(_query(url, sql, *args))


def issue_key(url: str) -> tuple[str, str]:
    """Create the bench tenant; return its id and an API key of it."""

    async def run() -> tuple[str, str]:
        db = Database(url, catalog=build_catalog())
        await db.start()
        try:

            def create(uow: UnitOfWork) -> tuple[str, str]:
                tenant = create_tenant(uow, name="Bench", slug="bench")
                return tenant.id, issue_api_key(uow, tenant_id=tenant.id, name="bench").key

            return await db.write(create)
        finally:
            await db.stop()

    return asyncio.run(run())


def post_backlog(url: str, tenant_id: str, conversations: list[str], count: int) -> None:
    """Post `count` messages to `conversations` in process, many per transaction (faster than HTTP)."""

    async def run() -> None:
        db = Database(url, catalog=build_catalog())
        await db.start()
        try:
            for first in range(0, count, BACKLOG_BATCH):

                def post(uow: UnitOfWork, first: int = first) -> None:
                    for n in range(first, min(count, first + BACKLOG_BATCH)):
                        post_message(
                            uow,
                            tenant_id=tenant_id,
                            conversation_id=conversations[n % len(conversations)],
                            data=MessageCreate(direction="inbound", body=f"backlog message {n}"),
                        )

                await db.write(post)
        finally:
            await db.stop()

    asyncio.run(run())


# --- the load ---------------------------------------------------------------------------------------

#: Each run posts to new conversations, so client ids never repeat within one.
LIVE_BODY = MESSAGE_BODY


def partition_owners(url: str) -> dict[int, str]:
    rows = query(
        url, "SELECT partition, owner FROM subscription_positions WHERE subscription = $1", SUBSCRIPTION
    )
    return {row["partition"]: row["owner"] for row in rows if row["owner"] is not None}


def choose_conversations(http: httpx.Client, url: str, count: int) -> list[str]:
    """Create conversations until `count` of them lie in distinct log partitions, spread evenly over the
    workers holding those partitions; return their ids."""
    owners = partition_owners(url)
    quota = count // max(1, len(set(owners.values())))
    customer = http.post("/v1/customers", json={"name": "Bench Customer"})
    customer.raise_for_status()
    chosen: dict[int, str] = {}
    per_owner: dict[str, int] = {}
    for _ in range(2000):
        if len(chosen) == count:
            return list(chosen.values())
        created = http.post(
            "/v1/conversations", json={"customer_id": customer.json()["id"], "channel": "webchat"}
        )
        created.raise_for_status()
        conversation_id: str = created.json()["id"]
        partition = partition_of(conversation_id, PARTITIONS)
        owner = owners.get(partition, "")
        if partition in chosen or per_owner.get(owner, 0) >= quota:
            continue
        chosen[partition] = conversation_id
        per_owner[owner] = per_owner.get(owner, 0) + 1
    raise RuntimeError(f"could not spread {count} conversations over the workers' partitions")


def load(
    base_url: str, key: str, conversations: list[str], body: bytes, duration_s: int, connections: int
) -> list[WrkResult]:
    """Run one wrk per conversation at once, sharing `connections` between them."""
    per_run = max(1, connections // len(conversations))

    def one(conversation_id: str) -> WrkResult:
        return run_wrk(
            f"{base_url}/v1/conversations/{conversation_id}/messages",
            method="POST",
            body=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            duration_s=duration_s,
            connections=per_run,
            lua_body_sequence=True,
        )

    with ThreadPoolExecutor(max_workers=len(conversations)) as pool:
        results = list(pool.map(one, conversations))
    failed = [r for r in results if r.non_2xx_3xx]
    if failed:
        raise RuntimeError(f"the server answered requests with errors:\n{failed[0].output}")
    return results


def merged(results: list[WrkResult]) -> dict[str, float]:
    requests = sum(r.total_requests for r in results) or 1
    return {
        "requests_per_sec": sum(r.requests_per_sec for r in results),
        "total_requests": float(sum(r.total_requests for r in results)),
        "latency_p50_ms": sum(r.latency_p50_ms * r.total_requests for r in results) / requests,
        "latency_p99_ms": max(r.latency_p99_ms for r in results),
        # wrk gives up on a request after 2 s: such timeouts count here, not in the latencies.
        "socket_errors": float(sum(r.socket_errors for r in results)),
    }


# --- workers and dispatch ---------------------------------------------------------------------------


class WorkerProcesses:
    """`count` `cxstack worker` processes for a `with` block; entering waits until each holds a share of
    the partitions, leaving stops them with SIGTERM (they hand their leases back)."""

    def __init__(self, count: int, env: dict[str, str], url: str) -> None:
        self.count = count
        self.env = env
        self.url = url
        self.ids: list[str] = []
        self._directory = Path(tempfile.mkdtemp(prefix="cxstack-workers-"))
        self._processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> WorkerProcesses:
        for i in range(self.count):
            with (self._directory / f"worker-{i}.log").open("wb") as log:
                self._processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "cxstack.cli.main", "worker"],
                        cwd=PROJECT_ROOT,
                        env=self.env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        try:
            self._wait_for_shares()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_for_shares(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            for i, process in enumerate(self._processes):
                if process.poll() is not None:
                    log = (self._directory / f"worker-{i}.log").read_text(errors="replace")[-4000:]
                    raise RuntimeError(f"worker exited with {process.returncode}:\n{log}")
            live = {row["id"] for row in query(self.url, "SELECT id FROM bus_workers")}
            owners = set(partition_owners(self.url).values())
            if len(live) == self.count and owners == live:
                self.ids = sorted(live)
                time.sleep(1.0)  # let their stream consumers subscribe
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.count} workers did not share the partitions within 60 s")
            time.sleep(0.2)

    def pause(self) -> None:
        for process in self._processes:
            process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        for process in self._processes:
            process.send_signal(signal.SIGCONT)

    def __exit__(self, *_exc: object) -> None:
        self.resume()
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self._directory, ignore_errors=True)


def log_head(url: str) -> int:
    return int(query(url, "SELECT coalesce(max(seq), 0) AS head FROM events")[0]["head"])


def backlog(url: str, after: int) -> int:
    """How many messages logged after `after` the subscription has not handled yet."""
    rows = query(
        url,
        "SELECT count(*) AS n FROM events e WHERE e.type = 'message.received' AND e.seq > $1 AND NOT EXISTS "
        "(SELECT FROM processed_events p WHERE p.subscription = $2 AND p.event_id = e.id)",
        after,
        SUBSCRIPTION,
    )
    return int(rows[0]["n"])


def wait_for_dispatch(url: str, after: int) -> float:
    """Wait until the subscription has handled every message after `after`; return the seconds it took."""
    started = time.monotonic()
    while True:
        left = backlog(url, after)
        if left == 0:
            return time.monotonic() - started
        if time.monotonic() - started > DRAIN_TIMEOUT_S:
            raise RuntimeError(f"{left} messages still not handled {DRAIN_TIMEOUT_S:.0f} s after the load")
        time.sleep(0.05)


def dispatch_lag(url: str, after: int, until: int) -> dict[str, float]:
    """Per-event lag (ms) from the message's event time to its handling, for messages in (after, until]."""
    row = query(
        url,
        """
        SELECT count(*) AS n,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms) AS p50,
               percentile_cont(0.99) WITHIN GROUP (ORDER BY lag_ms) AS p99,
               max(lag_ms) AS max
        FROM (SELECT extract(epoch FROM p.processed_at - e.time) * 1000 AS lag_ms
              FROM events e JOIN processed_events p ON p.event_id = e.id AND p.subscription = $3
              WHERE e.type = 'message.received' AND e.seq > $1 AND e.seq <= $2) AS lags
        """,
        after,
        until,
        SUBSCRIPTION,
    )[0]
    return {
        "events": float(row["n"]),
        "lag_p50_ms": float(row["p50"] or 0.0),
        "lag_p99_ms": float(row["p99"] or 0.0),
        "lag_max_ms": float(row["max"] or 0.0),
    }


def handling_rate(url: str, after: int) -> dict[str, float]:
    """How fast the messages after `after` were handled: their count over the span of their handling."""
    row = query(
        url,
        "SELECT count(*) AS n, extract(epoch FROM max(p.processed_at) - min(p.processed_at)) AS span_s "
        "FROM events e JOIN processed_events p ON p.event_id = e.id AND p.subscription = $2 "
        "WHERE e.type = 'message.received' AND e.seq > $1",
        after,
        SUBSCRIPTION,
    )[0]
    span = float(row["span_s"] or 0.0)
    return {"handling_span_s": span, "handled_per_sec": row["n"] / span if span > 0 else 0.0}


async def _stored_at(nats_url: str, prefix: str, ids: set[str]) -> dict[str, datetime]:
    """When JetStream stored each of the message events `ids` (read back through an ordered consumer)."""
    client = await nats.connect(nats_url)
    try:
        subscription = await client.jetstream().subscribe(
            f"{prefix}.events.*.message.received",
            stream=stream_name(prefix),
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
            headers_only=True,
        )
        found: dict[str, datetime] = {}
        while len(found) < len(ids):
            message = await subscription.next_msg(timeout=10)
            event_id = (message.headers or {}).get("Nats-Msg-Id", "")
            if event_id in ids:
                found[event_id] = message.metadata.timestamp
        await subscription.unsubscribe()
        return found
    finally:
        await client.close()


def publish_to_handled(url: str, nats_url: str, prefix: str, after: int, until: int) -> dict[str, float]:
    """Per-event lag (ms) from the broker storing a message's event to its handling, in (after, until]."""
    rows = query(
        url,
        "SELECT e.id, p.processed_at FROM events e "
        "JOIN processed_events p ON p.event_id = e.id AND p.subscription = $3 "
        "WHERE e.type = 'message.received' AND e.seq > $1 AND e.seq <= $2",
        after,
        until,
        SUBSCRIPTION,
    )
    stored = asyncio.run(_stored_at(nats_url, prefix, {row["id"] for row in rows}))
    lags = sorted((row["processed_at"] - stored[row["id"]]).total_seconds() * 1000 for row in rows)
    if not lags:
        return {"lag_p50_ms": 0.0, "lag_p99_ms": 0.0}
    return {
        "lag_p50_ms": statistics.median(lags),
        "lag_p99_ms": lags[min(len(lags) - 1, round(0.99 * (len(lags) - 1)))],
    }


def measure(
    count: int,
    env: dict[str, str],
    url: str,
    base_url: str,
    tenant: tuple[str, str],
    nats_url: str,
    prefix: str,
) -> dict[str, Any]:
    """Both phases with `count` workers: live (workers handle while messages arrive) and backlog (messages
    arrive while the workers are paused, then the workers catch up)."""
    duration_s, connections = bench_duration(), bench_connections()
    tenant_id, key = tenant
    with WorkerProcesses(count, env, url) as running:
        with httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, trust_env=False
        ) as http:
            conversations = choose_conversations(http, url, CONVERSATIONS)
        owners = partition_owners(url)
        live_from = log_head(url)
        live = load(base_url, key, conversations, LIVE_BODY, duration_s, connections)
        wait_for_dispatch(url, live_from)
        live_to = log_head(url)

        running.pause()
        post_backlog(url, tenant_id, conversations, BACKLOG_MESSAGES)
        waiting = backlog(url, live_to)
        running.resume()
        drain_s = wait_for_dispatch(url, live_to)
    return {
        "workers": running.ids,
        "intake": merged(live),
        "dispatch": dispatch_lag(url, live_from, live_to),
        "publish_to_handled": publish_to_handled(url, nats_url, prefix, live_from, live_to),
        "backlog": {"messages": waiting, "wall_s": drain_s, **handling_rate(url, live_to)},
        "conversations_per_worker": {
            owner: sum(owners.get(partition_of(c, PARTITIONS)) == owner for c in conversations)
            for owner in running.ids
        },
        "wrk": [r.summary() for r in live],
    }


# --- the benchmark ----------------------------------------------------------------------------------


def main() -> None:
    """Measure the pipeline with one and with two workers and write `results/pipeline_scaleout.json`."""
    duration_s, connections = bench_duration(), bench_connections()
    server_url = os.environ.get(DATABASE_ENV, DEFAULT_DATABASE_URL)
    nats_url = os.environ.get(NATS_ENV, DEFAULT_NATS_URL)
    prefix = f"cxbench_{os.getpid()}"
    runs: dict[int, dict[str, Any]] = {}
    with fresh_database(server_url) as url:
        env = {
            **os.environ,
            "CXSTACK_DATABASE_URL": url,
            "CXSTACK_NATS_URL": nats_url,
            "CXSTACK_STREAM_PREFIX": prefix,
            "CXSTACK_PARTITIONS": str(PARTITIONS),
            "CXSTACK_LEASE_SECONDS": str(LEASE_SECONDS),
            "CXSTACK_LOG_LEVEL": "warning",
        }
        env.pop("CXSTACK_RUN_WORKERS_IN_SERVER", None)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        serve = ServerProcess(
            [sys.executable, "-m", "cxstack.cli.main", "serve", "--port", str(port)],
            ready_url=f"{base_url}/healthz",
            env=env,
            start_timeout_s=60,
        )
        try:
            with serve:
                tenant_id, key = issue_key(url)
                for count in WORKER_COUNTS:
                    runs[count] = measure(count, env, url, base_url, (tenant_id, key), nats_url, prefix)
        finally:
            asyncio.run(_delete_stream(nats_url, prefix))
    top = measure_ceiling(duration_s, connections)
    figures: dict[str, tuple[float, str]] = {}
    for count, run in runs.items():
        intake, dispatch = run["intake"], run["dispatch"]
        figures[f"workers_{count}_throughput"] = (intake["requests_per_sec"], "req/s")
        figures[f"workers_{count}_latency_p50"] = (intake["latency_p50_ms"], "ms")
        figures[f"workers_{count}_latency_p99"] = (intake["latency_p99_ms"], "ms")
        figures[f"workers_{count}_dispatch_lag_p50"] = (dispatch["lag_p50_ms"], "ms")
        figures[f"workers_{count}_dispatch_lag_p99"] = (dispatch["lag_p99_ms"], "ms")
        figures[f"workers_{count}_publish_to_handled_p50"] = (run["publish_to_handled"]["lag_p50_ms"], "ms")
        figures[f"workers_{count}_publish_to_handled_p99"] = (run["publish_to_handled"]["lag_p99_ms"], "ms")
        figures[f"workers_{count}_backlog_drain"] = (run["backlog"]["handled_per_sec"], "events/s")
    write_result(
        NAME,
        figures,
        ceiling={
            "throughput": (top.requests_per_sec, "req/s"),
            "latency_p50": (top.latency_p50_ms, "ms"),
            "latency_p99": (top.latency_p99_ms, "ms"),
        },
        notes={
            "duration_s": duration_s,
            "connections": connections,
            "conversations": CONVERSATIONS,
            "partitions": PARTITIONS,
            "subscription": SUBSCRIPTION,
            "latency_merge": "p50: request-weighted mean of the parallel wrk runs' p50; p99: their worst p99",
            "dispatch_lag": (
                "per message: processed_events.processed_at - events.time; the event time is taken before "
                "the request's commit, so the lag includes the wait for that commit"
            ),
            "publish_to_handled": (
                "per message: processed_events.processed_at - the time JetStream stored its event (after "
                "the commit and the relay), so the broker-and-worker part of the dispatch lag"
            ),
            "backlog_drain": (
                "messages posted in process while the workers were paused (SIGSTOP), divided by the time "
                "from the first to the last of their handling once the workers resumed"
            ),
            "runs": {str(count): run for count, run in runs.items()},
        },
    )


if __name__ == "__main__":
    main()
