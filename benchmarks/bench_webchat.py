"""Webchat: many visitors' WebSockets writing to one agent's WebSocket through `cxstack serve` on SQLite.

Starts `cxstack serve` on the embedded driver, writes the tenant's widget settings through the API, opens
one agent socket (`/ws/agent`, its own process) and N visitor sockets (`/ws/webchat`) spread over a few
load processes (the `websockets` client on uvloop, thousands of connections per process, run at a lower
priority than the server so that they do not starve it). Each visitor says hello, sends a first message
(which starts its conversation), then, while the measurement runs, one message every few seconds at a
random phase. Measured: delivery latency from a visitor's send to the agent socket receiving the message
(wall clock, same machine), the visitor's wait for its ack, messages per second, how many sockets stayed
open, every acknowledged message the agent never received, and the server's CPU time (user and system)
per message sent while the visitors send: the figure that decides how close to a full core the server
runs, and so its queueing delays.

Settings (environment): `CXSTACK_BENCH_WEBCHAT_VISITORS` (5000), `CXSTACK_BENCH_WEBCHAT_INTERVAL_S` (5),
`CXSTACK_BENCH_WEBCHAT_PROCESSES` (2), `CXSTACK_BENCH_DURATION` (seconds measured, 10).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import random
import sys
import tempfile
import time
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench_pipeline import API_KEY, prepare_database
from benchmarks.harness import ServerProcess, bench_duration, free_port, write_result

VISITORS_ENV = "CXSTACK_BENCH_WEBCHAT_VISITORS"
INTERVAL_ENV = "CXSTACK_BENCH_WEBCHAT_INTERVAL_S"
PROCESSES_ENV = "CXSTACK_BENCH_WEBCHAT_PROCESSES"
DEFAULT_VISITORS = 5000
DEFAULT_INTERVAL_S = 5.0
DEFAULT_PROCESSES = 2
#: Handshakes (hello and first message) a load process has in flight at once while it ramps up.
RAMP_CONCURRENCY = 100
RAMP_TIMEOUT_S = 240.0
GRACE_S = 5.0
#: How much lower the load processes run than the server (a nice increment).
LOAD_NICENESS = 5


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = float(raw)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _loop_runner() -> asyncio.Runner:
    import uvloop

    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


# -- the agent ---------------------------------------------------------------------------------------


def agent_process(ws_url: str, ready: EventType, stop: EventType, results: Any) -> None:
    """Receive every message of the tenant; report (latencies of measured messages, their client ids)."""

    async def run() -> None:
        import orjson
        import websockets

        latencies: list[float] = []
        arrivals: list[float] = []
        received: list[str] = []
        async with websockets.connect(
            ws_url + "/ws/agent", additional_headers={"Authorization": f"Bearer {API_KEY}"}, max_size=None
        ) as socket:
            await socket.recv()  # welcome
            ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(socket.recv(), 0.5)
                except TimeoutError:
                    continue
                now = time.time_ns()
                frame = orjson.loads(raw)
                if frame.get("type") != "message":
                    continue
                body: str = frame["message"]["body"]
                if not body.startswith("measured "):
                    continue
                sent_ns = int(body.rsplit(" ", 1)[1])
                latencies.append((now - sent_ns) / 1e6)
                arrivals.append(now / 1e9)
                received.append(frame["message"]["client_id"])
        results.put(("agent", {"latencies": latencies, "arrivals": arrivals, "received": received}))

    with _loop_runner() as runner:
        runner.run(run())


# -- the visitors ------------------------------------------------------------------------------------


def load_process(
    index: int,
    count: int,
    ws_url: str,
    widget_key: str,
    interval_s: float,
    duration_s: float,
    go: EventType,
    results: Any,
) -> None:
    """Open ``count`` visitor sockets, warm each up with one message, then send while the run lasts."""
    os.nice(LOAD_NICENESS)

    async def run() -> None:
        import orjson
        import websockets

        stats: dict[str, Any] = {
            "connected": 0,
            "connect_errors": 0,
            "errors": 0,
            "closed_early": 0,
            "sent": 0,
            "acked": [],
            "ack_ms": [],
            "error_samples": [],
        }
        ramp = asyncio.Semaphore(RAMP_CONCURRENCY)
        ready = asyncio.Event()
        ready_count = 0
        started = asyncio.Event()
        start_at = [0.0]

        async def visitor(n: int) -> None:
            nonlocal ready_count
            pending: dict[str, int] = {}
            try:
                async with ramp:
                    socket = await websockets.connect(ws_url + "/ws/webchat", max_size=None, open_timeout=60)
                    await socket.send(orjson.dumps({"type": "hello", "widget_key": widget_key}).decode())
                    await socket.recv()
                    await socket.send(
                        orjson.dumps(
                            {"type": "message", "client_id": f"w{index}-{n}", "body": "warm up"}
                        ).decode()
                    )
                    while orjson.loads(await socket.recv())["type"] != "ack":
                        pass
            except Exception as error:
                stats["connect_errors"] += 1
                if len(stats["error_samples"]) < 5:
                    stats["error_samples"].append(repr(error))
                ready_count += 1
                if ready_count == count:
                    ready.set()
                return
            stats["connected"] += 1
            ready_count += 1
            if ready_count == count:
                ready.set()

            async def read() -> None:
                async for raw in socket:
                    frame = orjson.loads(raw)
                    if frame["type"] == "ack":
                        sent_ns = pending.pop(frame["client_id"], None)
                        if sent_ns is not None:
                            stats["ack_ms"].append((time.time_ns() - sent_ns) / 1e6)
                            stats["acked"].append(frame["client_id"])
                    elif frame["type"] == "error":
                        stats["errors"] += 1
                        if len(stats["error_samples"]) < 5:
                            stats["error_samples"].append(frame)

            reader = asyncio.create_task(read())
            await started.wait()
            await asyncio.sleep(random.uniform(0, interval_s))
            seq = 0
            try:
                while time.monotonic() < start_at[0] + duration_s:
                    client_id = f"m{index}-{n}-{seq}"
                    seq += 1
                    now = time.time_ns()
                    pending[client_id] = now
                    await socket.send(
                        orjson.dumps(
                            {"type": "message", "client_id": client_id, "body": f"measured {now}"}
                        ).decode()
                    )
                    stats["sent"] += 1
                    await asyncio.sleep(interval_s)
                await asyncio.sleep(GRACE_S)
            except websockets.ConnectionClosed:
                stats["closed_early"] += 1
            finally:
                reader.cancel()
                await socket.close()

        tasks = [asyncio.create_task(visitor(n)) for n in range(count)]
        with contextlib.suppress(TimeoutError):  # report what connected; the rest counted as errors
            await asyncio.wait_for(ready.wait(), RAMP_TIMEOUT_S)
        results.put(("ready", index))
        await asyncio.to_thread(go.wait)
        start_at[0] = time.monotonic()
        started.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        results.put(("load", stats))

    with _loop_runner() as runner:
        runner.run(run())


def _cpu_times(pid: int) -> tuple[float, float]:
    """The user and system CPU seconds ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def _cpu_seconds(pid: int) -> float:
    return sum(_cpu_times(pid))


def wait_until_idle(pid: int, *, below: float = 0.15, timeout_s: float = 120.0) -> float:
    """Wait until the server has worked off the ramp-up (its event handlers project what the visitors'
    hellos and first messages published): until it uses less than ``below`` of a core over a second.
    Return the seconds waited."""
    started = time.monotonic()
    if not Path(f"/proc/{pid}/stat").exists():
        return 0.0
    while time.monotonic() - started < timeout_s:
        before = _cpu_seconds(pid)
        time.sleep(1.0)
        if _cpu_seconds(pid) - before < below:
            break
    return time.monotonic() - started


# -- the run ------------------------------------------------------------------------------------------


def main() -> None:
    """Load the webchat sockets and write `results/webchat.json`."""
    visitors = int(_env_number(VISITORS_ENV, DEFAULT_VISITORS))
    interval_s = _env_number(INTERVAL_ENV, DEFAULT_INTERVAL_S)
    processes = int(_env_number(PROCESSES_ENV, DEFAULT_PROCESSES))
    duration_s = bench_duration()
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="cxstack-bench-") as workdir:
        db_path = Path(workdir) / "cxstack.db"
        url = f"sqlite:///{db_path}"
        prepare_database(url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        ws_url = f"ws://127.0.0.1:{port}"
        env = {
            "CXSTACK_DATABASE_URL": url,
            "CXSTACK_PORT": str(port),
            "CXSTACK_DATA_DIR": str(Path(workdir) / "data"),
            "CXSTACK_LOG_LEVEL": "warning",
        }
        command = [sys.executable, "-m", "cxstack.cli.main", "serve", "--no-migrate"]
        with ServerProcess(command, ready_url=f"{base}/healthz", env=env, start_timeout_s=90) as server:
            with httpx.Client(base_url=base, timeout=30, trust_env=False) as http:
                settings = http.put(
                    "/v1/channels/webchat/settings",
                    json={"greeting": "Benchmark"},
                    headers={"Authorization": f"Bearer {API_KEY}"},
                )
                settings.raise_for_status()
                widget_key = settings.json()["widget_key"]
            results = spawn.Queue()
            agent_ready, agent_stop, go = spawn.Event(), spawn.Event(), spawn.Event()
            agent = spawn.Process(target=agent_process, args=(ws_url, agent_ready, agent_stop, results))
            agent.start()
            if not agent_ready.wait(60):
                raise RuntimeError("the agent socket did not connect:\n" + server.output_tail())
            shares = [
                visitors // processes + (1 if i < visitors % processes else 0) for i in range(processes)
            ]
            loads = [
                spawn.Process(
                    target=load_process,
                    args=(i, share, ws_url, widget_key, interval_s, duration_s, go, results),
                )
                for i, share in enumerate(shares)
            ]
            ramp_started = time.monotonic()
            for load in loads:
                load.start()
            for _ in loads:
                kind, _ = results.get(timeout=RAMP_TIMEOUT_S + 60)
                assert kind == "ready"
            ramp_s = time.monotonic() - ramp_started
            settle_s = wait_until_idle(server.pid)
            cpu_before = _cpu_times(server.pid)
            go.set()
            # The server's CPU time while the visitors send (the grace period after is left out).
            time.sleep(duration_s)
            cpu_after = _cpu_times(server.pid)
            stats: list[dict[str, Any]] = []
            for _ in loads:
                kind, value = results.get(timeout=duration_s + RAMP_TIMEOUT_S + 60)
                stats.append(value)
            agent_stop.set()
            kind, received = results.get(timeout=60)
            for process in [*loads, agent]:
                process.join(30)
            server_log = server.output_tail(2000)

    sent = sum(s["sent"] for s in stats)
    acked = [client_id for s in stats for client_id in s["acked"]]
    ack_ms = [ms for s in stats for ms in s["ack_ms"]]
    latencies: list[float] = received["latencies"]
    missing = len(set(acked) - set(received["received"]))
    connected = sum(s["connected"] for s in stats)
    errors = sum(s["errors"] + s["connect_errors"] + s["closed_early"] for s in stats) + missing
    rate = len(latencies) / duration_s
    cpu_user, cpu_system = (after - before for after, before in zip(cpu_after, cpu_before, strict=True))
    cpu_per_message_ms = (cpu_user + cpu_system) * 1000 / sent if sent else 0.0
    # The slowest delivery of each second of the run: whether the tail comes in bursts or throughout.
    by_second: dict[int, float] = {}
    if latencies:
        first = int(min(received["arrivals"]))
        for arrived, latency in zip(received["arrivals"], latencies, strict=True):
            second = int(arrived) - first
            by_second[second] = max(by_second.get(second, 0.0), latency)
    notes: dict[str, Any] = {
        "visitors_asked": visitors,
        "visitors_connected": connected,
        "load_processes": processes,
        "interval_s": interval_s,
        "duration_s": duration_s,
        "ramp_up_s": round(ramp_s, 1),
        "settle_s": round(settle_s, 1),
        "messages_sent": sent,
        "messages_acked": len(acked),
        "messages_received_by_agent": len(latencies),
        "server_cpu_user_s": round(cpu_user, 2),
        "server_cpu_system_s": round(cpu_system, 2),
        "acked_but_not_received": missing,
        "connect_errors": sum(s["connect_errors"] for s in stats),
        "error_frames": sum(s["errors"] for s in stats),
        "closed_early": sum(s["closed_early"] for s in stats),
        "error_samples": [sample for s in stats for sample in s["error_samples"]][:10],
        "latency_max_ms": max(latencies, default=0.0),
        "slowest_delivery_ms_by_second": [
            round(by_second.get(n, 0.0)) for n in range(max(by_second, default=-1) + 1)
        ],
    }
    if errors:
        notes["server_log_tail"] = server_log
    write_result(
        "webchat",
        {
            "visitor_sockets": (connected, "count"),
            "throughput": (rate, "msg/s"),
            "delivery_latency_p50": (percentile(latencies, 0.50), "ms"),
            "delivery_latency_p99": (percentile(latencies, 0.99), "ms"),
            "ack_latency_p50": (percentile(ack_ms, 0.50), "ms"),
            "ack_latency_p99": (percentile(ack_ms, 0.99), "ms"),
            "server_cpu_per_message": (cpu_per_message_ms, "ms"),
            "errors": (errors, "count"),
        },
        notes=notes,
    )


if __name__ == "__main__":
    main()
