"""The SMS intake: Twilio's signed incoming-message webhooks into customers' conversations.

Starts `cxstack serve` on the embedded driver (SQLite in a temporary directory), registers a Twilio number
through the API, then posts Twilio webhooks with wrk: every request its own `MessageSid` and a correct
`X-Twilio-Signature` (bodies and signatures computed beforehand, read by wrk from a file), from a pool of
senders (each sender's first message creates its customer and conversation). Checks that the database
holds exactly the messages wrk saw acknowledged.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from benchmarks.ceiling import measure_ceiling
from benchmarks.harness import (
    ServerProcess,
    bench_connections,
    bench_duration,
    free_port,
    run_wrk,
    write_request_file,
    write_result,
)
from cxstack.backbone.migrate import upgrade
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.governance.tenants.service import create_tenant, issue_api_key
from cxstack.runtime import Runtime

API_KEY = "cxk_benchmark_sms_key_000001"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "0123456789abcdef" * 2
NUMBER = "+14155550100"
SENDERS = 1000
#: Requests prepared per second of load: more than the intake can take, so no MessageSid repeats.
REQUESTS_PER_SECOND_PREPARED = 6000


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


def register_number(base: str) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30, trust_env=False) as http:
        response = http.post(
            "/v1/channels/sms/numbers",
            json={"number": NUMBER, "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
        )
        response.raise_for_status()


def twilio_signature(url: str, params: list[tuple[str, str]]) -> str:
    payload = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(AUTH_TOKEN.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def signed_requests(url: str, count: int) -> list[tuple[dict[str, str], bytes]]:
    """Twilio's incoming-message webhooks, each with its own MessageSid, signed for ``url``."""
    requests = []
    for n in range(count):
        sid = f"SM{n:032x}"
        params = [
            ("ToCountry", "US"),
            ("SmsMessageSid", sid),
            ("NumMedia", "0"),
            ("SmsSid", sid),
            ("SmsStatus", "received"),
            ("Body", f"Hello, where is my order {n}?"),
            ("FromCountry", "US"),
            ("To", NUMBER),
            ("NumSegments", "1"),
            ("MessageSid", sid),
            ("AccountSid", ACCOUNT_SID),
            ("From", f"+1415556{n % SENDERS:04d}"),
            ("ApiVersion", "2010-04-01"),
        ]
        requests.append(({"X-Twilio-Signature": twilio_signature(url, params)}, urlencode(params).encode()))
    return requests


def counts(db_path: Path) -> tuple[int, int, int]:
    """Return (SMS messages stored, inbound receipts, customers), read beside the running server."""
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        messages = connection.execute("SELECT count(*) FROM messages WHERE channel = 'sms'").fetchone()[0]
        receipts = connection.execute("SELECT count(*) FROM sms_inbound_receipts").fetchone()[0]
        customers = connection.execute("SELECT count(*) FROM customers").fetchone()[0]
    finally:
        connection.close()
    return int(messages), int(receipts), int(customers)


def process_cpu_s(pid: int) -> float:
    """Return the CPU time (user + system) a process has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> float:
    """Return the one-minute load average (the machine may be shared: a high one makes throughput noisy)."""
    return os.getloadavg()[0]


def main() -> None:
    """Load the SMS webhook and write `results/sms.json`."""
    duration_s, connections = bench_duration(), bench_connections()
    with tempfile.TemporaryDirectory(prefix="cxstack-bench-") as workdir:
        db_path = Path(workdir) / "cxstack.db"
        url = f"sqlite:///{db_path}"
        prepare_database(url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        hook_url = f"{base}/hooks/sms/twilio"
        prepared = REQUESTS_PER_SECOND_PREPARED * duration_s
        request_file = Path(workdir) / "requests.tsv"
        write_request_file(request_file, signed_requests(hook_url, prepared), ["X-Twilio-Signature"])
        env = {
            "CXSTACK_DATABASE_URL": url,
            "CXSTACK_PORT": str(port),
            "CXSTACK_DATA_DIR": str(Path(workdir) / "data"),
            "CXSTACK_LOG_LEVEL": "warning",
        }
        command = [sys.executable, "-m", "cxstack.cli.main", "serve", "--no-migrate"]
        with ServerProcess(command, ready_url=f"{base}/healthz", env=env, start_timeout_s=90) as server:
            register_number(base)
            load_before = load_average()
            cpu_before = process_cpu_s(server.pid)
            result = run_wrk(
                hook_url,
                method="POST",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                duration_s=duration_s,
                connections=connections,
                request_file=request_file,
                request_header_names=["X-Twilio-Signature"],
            )
            server_cpu_s = process_cpu_s(server.pid) - cpu_before
            stored, receipts, customers = counts(db_path)
            server_log = server.output_tail(2000)
    acknowledged = result.total_requests - result.non_2xx_3xx
    repeated = max(0, result.total_requests - prepared)
    # wrk stops counting at the deadline: requests still in flight then may be stored but not counted.
    unacknowledged_writes = stored - (acknowledged - repeated)
    lost = max(0, -unacknowledged_writes)
    beyond_in_flight = max(0, unacknowledged_writes - connections)
    errors = result.non_2xx_3xx + result.socket_errors + lost + beyond_in_flight
    throughput = acknowledged / result.duration_s if result.duration_s else 0.0

    top = measure_ceiling(duration_s, connections)
    notes: dict[str, Any] = {
        "duration_s": duration_s,
        "connections": connections,
        "senders": SENDERS,
        "requests_prepared": prepared,
        "requests_repeating_a_message_sid": repeated,
        "acknowledged_2xx": acknowledged,
        "messages_stored": stored,
        "inbound_receipts": receipts,
        "customers": customers,
        "acknowledged_but_missing": lost,
        # CPU is steadier than throughput on a shared machine: what the server spent per request.
        "server_cpu_s": round(server_cpu_s, 2),
        "server_cpu_ms_per_request": round(1000 * server_cpu_s / max(1, result.total_requests), 3),
        "load_average_before": load_before,
        "wrk": result.summary(),
        "ceiling_wrk": top.summary(),
    }
    if errors:
        notes["server_log_tail"] = server_log
    write_result(
        "sms",
        {
            "throughput": (throughput, "req/s"),
            "latency_p50": (result.latency_p50_ms, "ms"),
            "latency_p99": (result.latency_p99_ms, "ms"),
            "errors": (errors, "count"),
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
            f"error: wrk saw {acknowledged} acknowledged webhooks but {stored} messages were stored",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
