"""Creates other than messages: customers and conversations created over the HTTP API.

Starts `cxstack serve` on the embedded driver (SQLite in a temporary directory) and loads
`POST /v1/customers` (a distinct email per request) and then `POST /v1/conversations` (for customers created
before the load) with wrk. Checks that the database holds exactly the rows wrk saw acknowledged. Every new
chat, email thread and call creates both, so both are on the batched write path, as message intake is.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import httpx

from benchmarks.bench_pipeline import prepare_database
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
    write_result,
)

API_KEY = "cxk_benchmark_pipeline_key_0001"
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
CUSTOMER_BODY = (
    b'{"name": "Customer {n}", "email": "customer-{n}@example.com", "attributes": {"plan": "pro"}}'
)
CHANNELS = ("webchat", "email", "sms")


def rows(db_path: Path, table: str) -> int:
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        connection.close()


def load(
    base: str, db_path: Path, path: str, body: bytes, table: str, *, duration_s: int, connections: int
) -> tuple[WrkResult, IntakeTally]:
    before = rows(db_path, table)
    result = run_wrk(
        f"{base}{path}",
        method="POST",
        body=body,
        headers=HEADERS,
        duration_s=duration_s,
        connections=connections,
        lua_body_sequence=True,
    )
    return result, tally_intake(result, written=rows(db_path, table) - before, connections=connections)


def main() -> None:
    """Load customer and conversation creation and write `results/creates.json`."""
    duration_s, connections = bench_duration(), bench_connections()
    with tempfile.TemporaryDirectory(prefix="cxstack-bench-") as workdir:
        db_path = Path(workdir) / "cxstack.db"
        prepare_database(f"sqlite:///{db_path}", api_key=API_KEY)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command, env = serve_on_sqlite(Path(workdir), port)
        with ServerProcess(command, ready_url=f"{base}/healthz", env=env, start_timeout_s=90) as server:
            customers, customers_tally = load(
                base,
                db_path,
                "/v1/customers",
                CUSTOMER_BODY,
                "customers",
                duration_s=duration_s,
                connections=connections,
            )
            with httpx.Client(base_url=base, headers=HEADERS, timeout=30, trust_env=False) as http:
                customer = http.post("/v1/customers", json={"name": "Returning Customer"})
                customer.raise_for_status()
            conversation_body = (
                b'{"customer_id": "%s", "channel": "webchat", "subject": "Order {n}"}'
                % customer.json()["id"].encode()
            )
            conversations, conversations_tally = load(
                base,
                db_path,
                "/v1/conversations",
                conversation_body,
                "conversations",
                duration_s=duration_s,
                connections=connections,
            )
            server_log = server.output_tail(2000)
    ceiling = measure_ceiling(duration_s, connections)
    errors = customers_tally.errors + conversations_tally.errors
    write_result(
        "creates",
        {
            "customers_throughput": (customers_tally.throughput, "customers/s"),
            "customers_latency_p50": (customers.latency_p50_ms, "ms"),
            "customers_latency_p99": (customers.latency_p99_ms, "ms"),
            "conversations_throughput": (conversations_tally.throughput, "conversations/s"),
            "conversations_latency_p50": (conversations.latency_p50_ms, "ms"),
            "conversations_latency_p99": (conversations.latency_p99_ms, "ms"),
            "errors": (errors, "count"),
        },
        ceiling={
            "throughput": (ceiling.requests_per_sec, "req/s"),
            "latency_p99": (ceiling.latency_p99_ms, "ms"),
        },
        notes={
            "duration_s": duration_s,
            "connections": connections,
            "customers_written": customers_tally.written,
            "conversations_written": conversations_tally.written,
            "acknowledged_but_missing": customers_tally.lost + conversations_tally.lost,
            "wrk_customers": customers.summary(),
            "wrk_conversations": conversations.summary(),
            **({"server_log": server_log} if errors else {}),
        },
    )


if __name__ == "__main__":
    main()
