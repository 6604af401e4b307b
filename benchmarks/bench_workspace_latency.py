"""A customer's message to the agent's screen: from the message's POST to its text drawn in the DOM of the
agent's conversation page in Chromium, with 200 agent connections open.

Starts `cxstack serve` on the embedded driver with a tenant of 200 agents in one team, signs them all in,
and opens 199 of their agent sockets (`/ws/agent`, in a load process run at a lower priority than the
server) and, for the last, the workspace's conversation page (`/app/conversations/{id}`) in Debian's
Chromium driven by Playwright. The conversation has no team, so every agent sees it and every socket gets
every message. Then a customer's messages arrive one by one (`POST /v1/conversations/{id}/messages`,
inbound, about ten a second); a MutationObserver in the page notes the wall-clock time at which each
message's text appears in the timeline. Measured: latency from just before the POST to that moment (the
same machine's clock), p50, p99 and max, and every message the page never showed.

Settings (environment): `CXSTACK_BENCH_WORKSPACE_AGENTS` (200 connections in all),
`CXSTACK_BENCH_WORKSPACE_MESSAGES` (300). Target: p99 <= 200 ms (goal 100 ms).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import ServerProcess, free_port, serve_on_sqlite, write_result
from cxstack.backbone.migrate import upgrade
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.governance.staff.passwords import hash_password
from cxstack.governance.staff.service import create_team, create_user
from cxstack.governance.tenants.service import create_tenant, issue_api_key
from cxstack.runtime import Runtime

NAME = "workspace_latency"
AGENTS_ENV = "CXSTACK_BENCH_WORKSPACE_AGENTS"
MESSAGES_ENV = "CXSTACK_BENCH_WORKSPACE_MESSAGES"
SLUG = "floor"
PASSWORD = "workspace-benchmark-password-1"
API_KEY = "cxk_workspace-benchmark-not-a-secret-00"
INTERVAL_S = 0.1
TARGET_P99_MS = 200.0
GOAL_P99_MS = 100.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: Notes, in the page, when each measured message's text is first drawn in the timeline.
OBSERVER = """
() => {
  window.__drawn = {};
  const note = (node) => {
    if (!(node instanceof Element)) return;
    for (const body of node.matches(".entry-body") ? [node] : node.querySelectorAll(".entry-body")) {
      const match = /^measured (\\d+)$/.exec(body.textContent.trim());
      if (match && !(match[1] in window.__drawn)) {
        window.__drawn[match[1]] = performance.timeOrigin + performance.now();
      }
    }
  };
  new MutationObserver((changes) => {
    for (const change of changes) {
      for (const node of change.addedNodes) note(node);
      if (change.type === "characterData") note(change.target.parentElement);
    }
  }).observe(document.body, { childList: true, subtree: true, characterData: true });
}
"""


def _positive_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    value = int(raw) if raw else default
    if value < 2:
        raise ValueError(f"{name} must be an integer of at least 2")
    return value


def agent_email(n: int) -> str:
    return f"agent{n}@floor.example"


def prepare(database_url: str, agents: int) -> None:
    """Migrate the database; create the tenant, its key, one team and ``agents`` agents in it."""
    password = hash_password(PASSWORD)

    def seed(uow: UnitOfWork) -> None:
        tenant = create_tenant(uow, name="Floor", slug=SLUG)
        issue_api_key(uow, tenant_id=tenant.id, name="benchmark", key=API_KEY)
        team = create_team(uow, tenant_id=tenant.id, name="Floor").id
        for n in range(agents):
            create_user(
                uow,
                tenant_id=tenant.id,
                email=agent_email(n),
                name=f"Agent {n}",
                role="agent",
                team_ids=[team],
                password=password,
            )

    async def run() -> None:
        runtime = Runtime.build(Settings(database_url=database_url), run_bus=False)
        await runtime.db.start()
        try:
            await upgrade(runtime.db)
            await runtime.db.write(seed)
        finally:
            await runtime.db.stop()

    asyncio.run(run())


async def sign_in_all(base: str, agents: int) -> list[dict[str, str]]:
    """Sign every agent in; return each one's cookies."""
    async with httpx.AsyncClient(base_url=base, timeout=120, trust_env=False) as http:
        limit = asyncio.Semaphore(8)

        async def one(n: int) -> dict[str, str]:
            async with limit:
                answer = await http.post(
                    "/v1/auth/sign-in", json={"tenant": SLUG, "email": agent_email(n), "password": PASSWORD}
                )
                answer.raise_for_status()
                return dict(answer.cookies.items())

        return list(await asyncio.gather(*(one(n) for n in range(agents))))


def sockets_process(ws_url: str, cookies: list[dict[str, str]], ready: EventType, stop: EventType) -> None:
    """Hold one agent socket per cookie set open, reading every frame, until ``stop``."""
    os.nice(5)

    async def run() -> None:
        import websockets

        async def agent(cookie: dict[str, str]) -> None:
            header = "; ".join(f"{name}={value}" for name, value in cookie.items())
            async with websockets.connect(
                ws_url + "/ws/agent", additional_headers={"Cookie": header}, max_size=None, open_timeout=120
            ) as socket:
                await socket.recv()  # welcome
                opened.append(1)
                if len(opened) == len(cookies):
                    ready.set()
                while not stop.is_set():
                    try:
                        await asyncio.wait_for(socket.recv(), 0.5)
                    except TimeoutError:
                        continue

        opened: list[int] = []
        await asyncio.gather(*(agent(cookie) for cookie in cookies))

    asyncio.run(run())


async def measure(base: str, cookie: dict[str, str], messages: int) -> dict[str, Any]:
    """Open the conversation page as one agent and time ``messages`` customer messages to its DOM."""
    from playwright.async_api import async_playwright

    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, trust_env=False) as http:
        customer = await http.post("/v1/customers", json={"name": "Grace Hopper"})
        customer.raise_for_status()
        created = await http.post(
            "/v1/conversations", json={"customer_id": customer.json()["id"], "channel": "webchat"}
        )
        created.raise_for_status()
        conversation_id = created.json()["id"]
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = await browser.new_context()
            host = base.split("//", 1)[1].split(":")[0]
            await context.add_cookies(
                [{"name": k, "value": v, "domain": host, "path": "/"} for k, v in cookie.items()]
            )
            page = await context.new_page()
            await page.goto(f"{base}/app/conversations/{conversation_id}")
            await page.wait_for_selector("cx-timeline", timeout=60_000)
            await page.evaluate(OBSERVER)
            # The page is live once a first message sent now shows.
            warm = await http.post(
                f"/v1/conversations/{conversation_id}/messages",
                json={"direction": "inbound", "author_kind": "customer", "body": "hello"},
            )
            warm.raise_for_status()
            await page.get_by_text("hello", exact=True).wait_for(timeout=60_000)
            sent: dict[int, float] = {}
            for n in range(messages):
                started = time.time() * 1000
                answer = await http.post(
                    f"/v1/conversations/{conversation_id}/messages",
                    json={"direction": "inbound", "author_kind": "customer", "body": f"measured {n}"},
                )
                answer.raise_for_status()
                sent[n] = started
                await asyncio.sleep(INTERVAL_S)
            deadline = time.monotonic() + 30
            drawn: dict[str, float] = {}
            while time.monotonic() < deadline:
                drawn = await page.evaluate("window.__drawn")
                if len(drawn) >= messages:
                    break
                await asyncio.sleep(0.5)
            await browser.close()
    latencies = sorted(drawn[str(n)] - sent[n] for n in sent if str(n) in drawn)
    return {"latencies": latencies, "missing": messages - len(latencies)}


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(fraction * len(values)))]


def main() -> None:
    """Run the measurement and write `results/workspace_latency.json`."""
    agents = _positive_env(AGENTS_ENV, 200)
    messages = _positive_env(MESSAGES_ENV, 300)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{NAME} needs Chromium at {CHROMIUM}")
    with tempfile.TemporaryDirectory(prefix="cxstack-bench-") as workdir:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command, env = serve_on_sqlite(Path(workdir), port)
        prepare(env["CXSTACK_DATABASE_URL"], agents)
        with ServerProcess(command, ready_url=f"{base}/healthz", env=env, start_timeout_s=90):
            cookies = asyncio.run(sign_in_all(base, agents))
            context = multiprocessing.get_context("spawn")
            ready, stop = context.Event(), context.Event()
            holder = context.Process(
                target=sockets_process, args=(base.replace("http", "ws"), cookies[1:], ready, stop)
            )
            holder.start()
            try:
                if not ready.wait(120):
                    raise RuntimeError("the agent sockets did not all open")
                result = asyncio.run(measure(base, cookies[0], messages))
            finally:
                stop.set()
                holder.join(30)
                if holder.is_alive():
                    holder.kill()
    latencies = result["latencies"]
    p99 = percentile(latencies, 0.99)
    write_result(
        NAME,
        {
            "agent_connections": (float(agents), "count"),
            "latency_p50": (percentile(latencies, 0.50), "ms"),
            "latency_p99": (p99, "ms"),
            "latency_max": (latencies[-1] if latencies else float("nan"), "ms"),
            "messages_not_shown": (float(result["missing"]), "count"),
        },
        notes={
            "messages": messages,
            "interval_s": INTERVAL_S,
            "target_p99_ms": TARGET_P99_MS,
            "goal_p99_ms": GOAL_P99_MS,
            "within_target": p99 <= TARGET_P99_MS,
            "python": sys.version.split()[0],
        },
    )
