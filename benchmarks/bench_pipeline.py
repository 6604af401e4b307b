"""The message pipeline: HTTP intake of messages into conversations, through the outbox to a subscriber.

Starts `cxstack serve` on the embedded driver (SQLite in a temporary directory), posts messages to one
conversation with wrk (a distinct `client_id` per request), then measures how long the `records.timeline`
subscription takes to project every message after the load ends. Checks that the database holds exactly the
messages wrk saw acknowledged.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.ceiling import measure_ceiling
from benchmarks.harness import (
    IntakeTally,
    ServerProcess,
    WrkResult,
    bench_connections,
    bench_duration,
    free_port,
    run_wrk,
    serve_on_sqlite,
    tally_intake,
    write_intake_result,
)
from cxstack.backbone.migrate import upgrade
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.governance.tenants.service import create_tenant, issue_api_key
from cxstack.runtime import Runtime

API_KEY = "cxk_benchmark_pipeline_key_0001"
MESSAGE_BODY = b'{"direction": "inbound", "body": "hello, my card payment failed", "client_id": "c-{n}"}'
CONVERSATIONS = 10
DISPATCH_TIMEOUT_S = 120.0


def prepare_database(url: str, *, api_key: str = API_KEY) -> None:
    """Migrate the database and create the benchmark tenant with a known API key."""

    def seed(uow: UnitOfWork) -> None:
        tenant = create_tenant(uow, name="Benchmark", slug="benchmark")
        issue_api_key(uow, tenant_id=tenant.id, name="benchmark", key=api_key)

    async def run() -> None:
        runtime = Runtime.build(Settings(database_url=url), run_bus=False)
        await runtime.db.start()
        try:
            await upgrade(runtime.db)
            await runtime.db.write(seed)
        finally:
            await runtime.db.stop()

    asyncio.run(run())


def create_conversations(base: str) -> list[str]:
    """Create a customer and its conversations through the API; return the conversation ids."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30, trust_env=False) as http:
        customer = http.post("/v1/customers", json={"name": "Load Test", "email": "load@example.com"})
        customer.raise_for_status()
        ids = []
        for n in range(CONVERSATIONS):
            channel = ("webchat", "email", "sms")[n % 3]
            created = http.post(
                "/v1/conversations", json={"customer_id": customer.json()["id"], "channel": channel}
            )
            created.raise_for_status()
            ids.append(created.json()["id"])
        return ids


def counts(db_path: Path) -> tuple[int, int]:
    """Return (messages stored, message entries in the timeline), read beside the running server."""
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        messages = connection.execute("SELECT count(*) FROM messages").fetchone()[0]
        projected = connection.execute(
            "SELECT count(*) FROM timeline_entries WHERE kind = 'message.received'"
        ).fetchone()[0]
    finally:
        connection.close()
    return int(messages), int(projected)


def wait_for_dispatch(db_path: Path, since: float) -> tuple[float, int, int]:
    """Poll until the timeline holds every stored message; return (lag ms, messages, projected)."""
    deadline = since + DISPATCH_TIMEOUT_S
    while True:
        messages, projected = counts(db_path)
        now = time.monotonic()
        if projected >= messages or now > deadline:
            return (now - since) * 1000.0, messages, projected
        time.sleep(0.005)


@dataclass
class PipelineRun:
    result: WrkResult
    tally: IntakeTally
    lag_ms: float
    unprojected: int
    server_log: str


def run_pipeline(duration_s: int, connections: int, *, synchronous: str) -> PipelineRun:
    """Load a fresh server whose SQLite runs with ``PRAGMA synchronous=<synchronous>``."""
    with tempfile.TemporaryDirectory(prefix="cxstack-bench-") as workdir:
        db_path = Path(workdir) / "cxstack.db"
        prepare_database(f"sqlite:///{db_path}")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command, env = serve_on_sqlite(Path(workdir), port)
        env["CXSTACK_SQLITE_SYNCHRONOUS"] = synchronous
        with ServerProcess(command, ready_url=f"{base}/healthz", env=env, start_timeout_s=90) as server:
            conversation_ids = create_conversations(base)
            before, _ = counts(db_path)
            result = run_wrk(
                f"{base}/v1/conversations/{conversation_ids[0]}/messages",
                method="POST",
                body=MESSAGE_BODY,
                headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
                duration_s=duration_s,
                connections=connections,
                lua_body_sequence=True,
            )
            load_ended = time.monotonic()
            lag_ms, stored, projected = wait_for_dispatch(db_path, load_ended)
            server_log = server.output_tail(2000)
    unprojected = max(0, stored - projected)
    tally = tally_intake(result, written=stored - before, connections=connections, other_errors=unprojected)
    return PipelineRun(result, tally, lag_ms, unprojected, server_log)


def main() -> None:
    """Load the message pipeline with the default ``synchronous=FULL``, then again with ``NORMAL`` to show
    what syncing every group commit costs, and write `results/pipeline.json`."""
    duration_s, connections = bench_duration(), bench_connections()
    full = run_pipeline(duration_s, connections, synchronous="FULL")
    normal = run_pipeline(duration_s, connections, synchronous="NORMAL")
    write_intake_result(
        "pipeline",
        full.result,
        full.tally,
        measure_ceiling(duration_s, connections),
        throughput_unit="msg/s",
        duration_s=duration_s,
        connections=connections,
        figures={
            "dispatch_lag_ms": (full.lag_ms, "ms"),
            "throughput_synchronous_normal": (normal.tally.throughput, "msg/s"),
            "latency_p99_synchronous_normal": (normal.result.latency_p99_ms, "ms"),
            "errors_synchronous_normal": (normal.tally.errors, "count"),
        },
        notes={
            "sqlite_synchronous": "FULL; NORMAL for the figures ending _synchronous_normal",
            "conversations": CONVERSATIONS,
            "acknowledged_2xx": full.tally.acknowledged,
            "messages_written": full.tally.written,
            "written_in_flight_at_cutoff": full.tally.in_flight_at_cutoff,
            "acknowledged_but_missing": full.tally.lost + normal.tally.lost,
            "not_projected_after_timeout": full.unprojected + normal.unprojected,
            "wrk_synchronous_normal": normal.result.summary(),
        },
        server_log=full.server_log or normal.server_log,
        written_noun="messages",
    )


if __name__ == "__main__":
    main()
