"""The message pipeline: HTTP intake of messages into conversations, through the outbox to a subscriber.

Starts `cxstack serve` on the embedded driver (SQLite in a temporary directory), posts messages to one
conversation with wrk (a distinct `client_id` per request), then measures how long the `records.timeline`
subscription takes to project every message after the load ends. Checks that the database holds exactly the
messages wrk saw acknowledged.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.ceiling import measure_ceiling
from benchmarks.harness import (
    ServerProcess,
    bench_connections,
    bench_duration,
    free_port,
    run_wrk,
    write_result,
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


def prepare_database(url: str) -> None:
    """Migrate the database and create the benchmark tenant with a known API key."""

    def seed(uow: UnitOfWork) -> None:
        tenant = create_tenant(uow, name="Benchmark", slug="benchmark")
        issue_api_key(uow, tenant_id=tenant.id, name="benchmark", key=API_KEY)

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


def main() -> None:
    """Load the message pipeline and write `results/pipeline.json`."""
    duration_s, connections = bench_duration(), bench_connections()
    with tempfile.TemporaryDirectory(prefix="cxstack-bench-") as workdir:
        db_path = Path(workdir) / "cxstack.db"
        url = f"sqlite:///{db_path}"
        prepare_database(url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            "CXSTACK_DATABASE_URL": url,
            "CXSTACK_PORT": str(port),
            "CXSTACK_DATA_DIR": str(Path(workdir) / "data"),
            "CXSTACK_LOG_LEVEL": "warning",
        }
        command = [sys.executable, "-m", "cxstack.cli.main", "serve", "--no-migrate"]
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
    acknowledged = result.total_requests - result.non_2xx_3xx
    written = stored - before
    # wrk stops counting at the deadline: requests still in flight then may be stored but not counted.
    unacknowledged_writes = written - acknowledged
    lost = max(0, -unacknowledged_writes)
    beyond_in_flight = max(0, unacknowledged_writes - connections)
    unprojected = max(0, stored - projected)
    errors = result.non_2xx_3xx + result.socket_errors + lost + beyond_in_flight + unprojected
    throughput = acknowledged / result.duration_s if result.duration_s else 0.0

    top = measure_ceiling(duration_s, connections)
    notes: dict[str, Any] = {
        "duration_s": duration_s,
        "connections": connections,
        "conversations": CONVERSATIONS,
        "acknowledged_2xx": acknowledged,
        "messages_written": written,
        "written_in_flight_at_cutoff": max(0, unacknowledged_writes),
        "acknowledged_but_missing": lost,
        "not_projected_after_timeout": unprojected,
        "wrk": result.summary(),
        "ceiling_wrk": top.summary(),
    }
    if errors:
        notes["server_log_tail"] = server_log
    write_result(
        "pipeline",
        {
            "throughput": (throughput, "msg/s"),
            "latency_p50": (result.latency_p50_ms, "ms"),
            "latency_p99": (result.latency_p99_ms, "ms"),
            "errors": (errors, "count"),
            "dispatch_lag_ms": (lag_ms, "ms"),
            "throughput_ratio_to_ceiling": (
                throughput / top.requests_per_sec if top.requests_per_sec else 0.0,
                "ratio",
            ),
        },
        ceiling={
            "throughput": (top.requests_per_sec, "req/s"),
            "latency_p50": (top.latency_p50_ms, "ms"),
            "latency_p99": (top.latency_p99_ms, "ms"),
        },
        notes=notes,
    )
    if lost or beyond_in_flight:
        print(
            f"error: wrk saw {acknowledged} acknowledged messages but {written} were written",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
