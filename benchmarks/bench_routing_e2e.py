"""Routing end to end: from a new conversation to the offer arriving on the chosen agent's socket.

Starts `cxstack serve` on the embedded driver (SQLite in a temporary directory) with 200 agents (users with
a routing profile, available) and one queue that takes new chats, opens each agent's routing socket
(`/ws/routing`, with the tenant key and `?agent_id=`), then starts new chats (`POST /v1/conversations`, for
customers made beforehand) at a steady rate. Measured: the time from sending the request to the offer
frame arriving on the agent's socket (same machine, wall clock), and how many conversations got no offer.

Settings (environment): `CXSTACK_BENCH_ROUTING_E2E_RATE` (new conversations a second, 50),
`CXSTACK_BENCH_ROUTING_E2E_AGENTS` (200), `CXSTACK_BENCH_DURATION` (seconds of load, 10).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets
from sqlalchemy import select

from benchmarks.bench_pipeline import API_KEY, prepare_database
from benchmarks.harness import ServerProcess, bench_duration, free_port, serve_on_sqlite, write_result
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.governance.staff.service import create_user
from cxstack.governance.tenants.models import Tenant
from cxstack.routing import config as routing
from cxstack.routing.held import Routers
from cxstack.routing.schemas import AgentProfileIn, QueueIn
from cxstack.runtime import Runtime

RATE_ENV = "CXSTACK_BENCH_ROUTING_E2E_RATE"
AGENTS_ENV = "CXSTACK_BENCH_ROUTING_E2E_AGENTS"
HEADERS = {"Authorization": f"Bearer {API_KEY}"}
#: How long after the last request an offer may still arrive and count.
GRACE_S = 5.0


def _setting(name: str, default: int) -> int:
    value = int(os.environ.get(name, default))
    if value <= 0:
        raise ValueError(f"{name} must be a positive whole number")
    return value


def seed_agents(url: str, agents: int) -> list[str]:
    """Add ``agents`` available agents and a queue for new chats to the benchmark tenant; return the ids."""

    def seed(uow: UnitOfWork) -> list[str]:
        tenant_id = uow.session.scalar(select(Tenant.id).where(Tenant.slug == "benchmark"))
        assert tenant_id is not None
        routers = Routers()
        routing.create_queue(
            uow, routers, tenant_id=tenant_id, data=QueueIn(name="Chats", channels=["webchat"])
        )
        ids = []
        for n in range(agents):
            user = create_user(
                uow,
                tenant_id=tenant_id,
                email=f"agent-{n}@bench.example",
                name=f"Agent {n}",
                role="agent",
                team_ids=[],
                password=None,
            )
            routing.put_agent(
                uow,
                routers,
                tenant_id=tenant_id,
                user_id=user.id,
                data=AgentProfileIn(capacity={"webchat": 20}),
            )
            routing.set_presence(uow, routers, tenant_id=tenant_id, user_id=user.id, presence="available")
            ids.append(user.id)
        return ids

    async def run() -> list[str]:
        runtime = Runtime.build(Settings(database_url=url), run_bus=False)
        await runtime.db.start()
        try:
            ids: list[str] = await runtime.db.write(seed)
            return ids
        finally:
            await runtime.db.stop()

    return asyncio.run(run())


async def load(base: str, agent_ids: list[str], *, rate: int, duration_s: int) -> dict[str, Any]:
    ws_base = base.replace("http://", "ws://")
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=30, trust_env=False) as http:
        total = rate * duration_s
        customers = []
        for n in range(total):
            answer = await http.post("/v1/customers", json={"name": f"Customer {n}"})
            answer.raise_for_status()
            customers.append(answer.json()["id"])

        all_offered = asyncio.Event()

        async def listen(agent_id: str, ready: asyncio.Event) -> None:
            url = f"{ws_base}/ws/routing?agent_id={agent_id}"
            async with websockets.connect(url, additional_headers=HEADERS, max_size=None) as socket:
                ready.set()
                async for raw in socket:
                    frame = orjson.loads(raw)
                    if frame.get("type") == "offer":
                        arrived.setdefault(frame["conversation_id"], time.perf_counter())
                        if len(arrived) >= total:
                            all_offered.set()

        readies = [asyncio.Event() for _ in agent_ids]
        listeners = [
            asyncio.create_task(listen(agent_id, ready))
            for agent_id, ready in zip(agent_ids, readies, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 60)
        await asyncio.sleep(1.0)  # every socket's ready frame and live subscription in place

        async def start(customer_id: str) -> None:
            began = time.perf_counter()
            answer = await http.post(
                "/v1/conversations", json={"customer_id": customer_id, "channel": "webchat"}
            )
            answer.raise_for_status()
            sent[answer.json()["id"]] = began

        started = time.perf_counter()
        requests = []
        for n, customer_id in enumerate(customers):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            requests.append(asyncio.create_task(start(customer_id)))
        await asyncio.gather(*requests)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_offered.wait(), GRACE_S)
        for task in listeners:
            task.cancel()
        for task in listeners:
            with contextlib.suppress(BaseException):
                await task
    latencies = sorted((arrived[c] - sent[c]) * 1000 for c in sent if c in arrived)
    return {"sent": len(sent), "latencies": latencies, "missing": len(sent) - len(latencies)}


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(share * (len(values) - 1)))]


def main() -> None:
    """Measure the time from a new conversation to its offer and write `results/routing_e2e.json`."""
    rate, agents, duration_s = _setting(RATE_ENV, 50), _setting(AGENTS_ENV, 200), bench_duration()
    with tempfile.TemporaryDirectory(prefix="cxstack-bench-") as workdir:
        db_path = Path(workdir) / "cxstack.db"
        url = f"sqlite:///{db_path}"
        prepare_database(url, api_key=API_KEY)
        agent_ids = seed_agents(url, agents)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command, env = serve_on_sqlite(Path(workdir), port)
        with ServerProcess(command, ready_url=f"{base}/healthz", env=env, start_timeout_s=90):
            outcome = asyncio.run(load(base, agent_ids, rate=rate, duration_s=duration_s))
    latencies = outcome["latencies"]
    write_result(
        "routing_e2e",
        {
            "offer_latency_p50": (_percentile(latencies, 0.50), "ms"),
            "offer_latency_p99": (_percentile(latencies, 0.99), "ms"),
            "offer_latency_mean": (statistics.fmean(latencies) if latencies else float("nan"), "ms"),
            "conversations": (float(outcome["sent"]), "count"),
            "conversations_without_offer": (float(outcome["missing"]), "count"),
        },
        notes={"rate_per_s": rate, "agents": agents, "duration_s": duration_s, "driver": "sqlite"},
    )


if __name__ == "__main__":
    main()
