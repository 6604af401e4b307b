"""The SMS intake: Twilio's signed incoming-message webhooks into customers' conversations.

Starts `cxstack serve` on the embedded driver (SQLite in a temporary directory), registers a Twilio number
through the API, then posts Twilio webhooks with wrk: every request its own `MessageSid` and a correct
`X-Twilio-Signature` (bodies and signatures computed beforehand, read by wrk from a file), from a pool of
senders (each sender's first message creates its customer and conversation). Checks that the database
holds exactly the messages wrk saw acknowledged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import urlencode

import httpx

from benchmarks.bench_pipeline import prepare_database
from benchmarks.ceiling import measure_ceiling
from benchmarks.harness import (
    ServerProcess,
    bench_connections,
    bench_duration,
    free_port,
    run_wrk,
    serve_on_sqlite,
    tally_intake,
    write_intake_result,
    write_request_file,
)

API_KEY = "cxk_benchmark_sms_key_000001"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "0123456789abcdef" * 2
NUMBER = "+14155550100"
SENDERS = 1000
#: Requests prepared per second of load: more than the intake can take, so no MessageSid repeats.
REQUESTS_PER_SECOND_PREPARED = 6000


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
        prepare_database(f"sqlite:///{db_path}", api_key=API_KEY)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        hook_url = f"{base}/hooks/sms/twilio"
        prepared = REQUESTS_PER_SECOND_PREPARED * duration_s
        request_file = Path(workdir) / "requests.tsv"
        write_request_file(request_file, signed_requests(hook_url, prepared), ["X-Twilio-Signature"])
        command, env = serve_on_sqlite(Path(workdir), port)
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
    repeated = max(0, result.total_requests - prepared)
    tally = tally_intake(result, written=stored, connections=connections, repeated=repeated)
    write_intake_result(
        "sms",
        result,
        tally,
        measure_ceiling(duration_s, connections),
        throughput_unit="req/s",
        duration_s=duration_s,
        connections=connections,
        notes={
            "senders": SENDERS,
            "requests_prepared": prepared,
            "requests_repeating_a_message_sid": repeated,
            "acknowledged_2xx": tally.acknowledged,
            "messages_stored": stored,
            "inbound_receipts": receipts,
            "customers": customers,
            "acknowledged_but_missing": tally.lost,
            # CPU is steadier than throughput on a shared machine: what the server spent per request.
            "server_cpu_s": round(server_cpu_s, 2),
            "server_cpu_ms_per_request": round(1000 * server_cpu_s / max(1, result.total_requests), 3),
            "load_average_before": load_before,
        },
        server_log=server_log,
        written_noun="messages",
    )


if __name__ == "__main__":
    main()
