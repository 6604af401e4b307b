"""The agent's inbox in a tenant with 1,000,000 conversations: the first page of each inbox view and the
section counts, as a signed-in agent and a supervisor ask for them over HTTP.

The data set is written straight into an embedded SQLite file, once, and kept under `benchmarks/.data/`
(named by the schema it was built for): the tenant, 4 teams of 10 agents and a supervisor are created
through cxstack's services (so they can sign in), then 100,000 customers and 1,000,000 conversations with
SQLAlchemy Core bulk inserts. As in a real help desk most of the history is closed: the newest 3% of the
conversations are open or pending, plus one in a thousand older ones left open; 40% of the open ones are
unassigned, the rest assigned to an agent of the conversation's team; runs of three
conversations in every 300 are tagged `vip`.

Then `cxstack serve` runs on the file, the agent and the supervisor sign in, and wrk asks for each view
in turn, first with one connection (the server's time for one request, nothing queued before it), then
with `CXSTACK_BENCH_INBOX_CONNECTIONS` connections (default 8: agents opening their inbox at the same
moment), for `CXSTACK_BENCH_DURATION` seconds each. The agent's views go through team visibility (an agent
sees their team's work, the work of no team and their own). Last, the agent's `/app` is opened in Debian's
Chromium (Playwright) several times, each timed from the start of the navigation to the inbox's first rows
drawn. Targets: first page server time p99 <= 50 ms; drawn in the browser within 1 s.

`CXSTACK_BENCH_INBOX_CONVERSATIONS` builds a smaller data set for a quick run.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Table, create_engine, event, insert

from benchmarks.bench_lookup import ulid_id
from benchmarks.bench_workspace_latency import CHROMIUM, CHROMIUM_ARGS
from benchmarks.harness import (
    BENCHMARKS_DIR,
    ServerProcess,
    WrkResult,
    bench_duration,
    free_port,
    run_wrk,
    write_result,
)
from cxstack.backbone.migrate import MIGRATIONS, head_revision, upgrade
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.governance.staff.passwords import hash_password
from cxstack.governance.staff.service import create_team, create_user
from cxstack.governance.tenants.service import create_tenant, issue_api_key
from cxstack.kit.orm import Base
from cxstack.runtime import Runtime

NAME = "inbox"
DATA_DIR = BENCHMARKS_DIR / ".data"
CONVERSATIONS_ENV = "CXSTACK_BENCH_INBOX_CONVERSATIONS"
CONNECTIONS_ENV = "CXSTACK_BENCH_INBOX_CONNECTIONS"
DEFAULT_CONVERSATIONS = 1_000_000
DEFAULT_CONNECTIONS = 8
#: Bumped when the data set's shape changes, so that an older file is not reused.
DATA_VERSION = 3
CONVERSATIONS_PER_CUSTOMER = 10
TEAMS = 4
AGENTS_PER_TEAM = 10
#: The newest share of the conversations still open or pending, and one in this many older ones.
OPEN_SHARE = 0.03
OLD_OPEN_EVERY = 1_000
UNASSIGNED_EVERY = 5  # two in five open conversations: (n // 7) % 5 in (0, 1)
TAGGED_EVERY = 100
BATCH = 50_000
TARGET_P99_MS = 50.0
TARGET_BROWSER_MS = 1000.0
SLUG = "inbox-bench"
PASSWORD = "inbox-benchmark-password-1"
API_KEY = "cxk_inbox-benchmark-not-a-secret-0000000"
CHANNELS = ("webchat", "webchat", "email", "email", "sms", "voice", "inapp")
PRIORITIES = ("normal", "normal", "normal", "low", "high", "urgent")
HISTORY = timedelta(days=365)


def _positive_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    value = int(raw) if raw else default
    if value < 1:
        raise ValueError(f"{name} must be a positive integer")
    return value


def conversation_count() -> int:
    return max(_positive_env(CONVERSATIONS_ENV, DEFAULT_CONVERSATIONS), CONVERSATIONS_PER_CUSTOMER)


def dataset_path(conversations: int) -> Path:
    digest = hashlib.sha256(str(DATA_VERSION).encode())
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        digest.update(path.read_bytes())
    return DATA_DIR / f"inbox-{conversations}-{head_revision()}-{digest.hexdigest()[:12]}.db"


# -- the data set -----------------------------------------------------------------------------------


class People:
    """The tenant's teams and agents as the build created them (read back from the file when reused)."""

    def __init__(self, tenant_id: str, team_ids: list[str], agents: list[list[str]]) -> None:
        self.tenant_id = tenant_id
        self.team_ids = team_ids
        #: Agent user ids by team, in the order of ``team_ids``.
        self.agents = agents


def agent_email(team: int, agent: int) -> str:
    return f"agent{team}-{agent}@inbox.example"


SUPERVISOR_EMAIL = "supervisor@inbox.example"


def _create_people(path: Path) -> People:
    """Migrate the file and create the tenant, its key, teams, agents and supervisor through the services."""
    password = hash_password(PASSWORD)
    made: dict[str, Any] = {}

    def seed(uow: UnitOfWork) -> None:
        tenant = create_tenant(uow, name="Inbox benchmark", slug=SLUG)
        issue_api_key(uow, tenant_id=tenant.id, name="benchmark", key=API_KEY)
        team_ids = [create_team(uow, tenant_id=tenant.id, name=f"Team {t}").id for t in range(TEAMS)]
        agents = [
            [
                create_user(
                    uow,
                    tenant_id=tenant.id,
                    email=agent_email(t, a),
                    name=f"Agent {t}-{a}",
                    role="agent",
                    team_ids=[team_ids[t]],
                    password=password,
                ).id
                for a in range(AGENTS_PER_TEAM)
            ]
            for t in range(TEAMS)
        ]
        create_user(
            uow,
            tenant_id=tenant.id,
            email=SUPERVISOR_EMAIL,
            name="Supervisor",
            role="supervisor",
            team_ids=team_ids,
            password=password,
        )
        made["people"] = People(tenant.id, team_ids, agents)

    async def run() -> None:
        runtime = Runtime.build(Settings(database_url=f"sqlite:///{path}"), run_bus=False)
        await runtime.db.start()
        try:
            await upgrade(runtime.db)
            await runtime.db.write(seed)
        finally:
            await runtime.db.stop()

    asyncio.run(run())
    people: People = made["people"]
    return people


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _batches(total: int) -> Iterator[range]:
    for start in range(0, total, BATCH):
        yield range(start, min(start + BATCH, total))


def is_open(n: int, total: int) -> bool:
    return n >= total * (1 - OPEN_SHARE) or n % OLD_OPEN_EVERY == 7


def _conversation_row(n: int, total: int, people: People, start: datetime) -> dict[str, Any]:
    team = n % TEAMS
    created = start + HISTORY * (n / total)
    still_open = is_open(n, total)
    status = ("pending" if n % 3 == 0 else "open") if still_open else "closed"
    unassigned = still_open and (n // 7) % UNASSIGNED_EVERY in (0, 1)
    assignee = None if unassigned else people.agents[team][(n // TEAMS) % AGENTS_PER_TEAM]
    updated = created + timedelta(minutes=5 + n % 240)
    channel = CHANNELS[n % len(CHANNELS)]
    return {
        "id": ulid_id("cnv", n),
        "tenant_id": people.tenant_id,
        "customer_id": ulid_id("cus", n // CONVERSATIONS_PER_CUSTOMER),
        "origin_channel": channel,
        "channel": channel,
        "status": status,
        "subject": f"Order {n}",
        "assignee": assignee,
        "priority": PRIORITIES[n % len(PRIORITIES)],
        "attributes": {},
        "team_ids": [people.team_ids[team]],
        "message_count": 4,
        "created_at": created,
        "updated_at": updated,
        "closed_at": None if still_open else updated,
        "last_message_at": updated,
    }


def build_dataset(path: Path, conversations: int, console: Console) -> None:
    """Write the tenant, its people, customers and ``conversations`` conversations into a new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.name + ".building")
    for leftover in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
        leftover.unlink(missing_ok=True)
    people = _create_people(building)
    engine = create_engine(f"sqlite:///{building}")

    @event.listens_for(engine, "connect")
    def _bulk_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The file is thrown away if the build dies, so it needs no durability until it is done.
        for pragma in ("synchronous=OFF", "cache_size=-262144", "temp_store=MEMORY"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    start = datetime.now(UTC) - HISTORY
    started = time.perf_counter()
    customers = conversations // CONVERSATIONS_PER_CUSTOMER
    tag_id = ulid_id("tag", 1)
    with engine.begin() as connection:
        connection.execute(
            insert(_table("tags")),
            [
                {
                    "id": tag_id,
                    "tenant_id": people.tenant_id,
                    "name": "vip",
                    "colour": None,
                    "created_at": start,
                }
            ],
        )
    columns = TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"building {path.name}", total=conversations)
        for batch in _batches(conversations):
            with engine.begin() as connection:
                owners = range(
                    batch.start // CONVERSATIONS_PER_CUSTOMER,
                    min(customers, -(-batch.stop // CONVERSATIONS_PER_CUSTOMER)),
                )
                connection.execute(
                    insert(_table("customers")),
                    [
                        {
                            "id": ulid_id("cus", c),
                            "tenant_id": people.tenant_id,
                            "name": f"Customer {c}",
                            "email": f"customer{c}@example.com",
                            "phone": None,
                            "account_id": None,
                            "attributes": {},
                            "merged_into_id": None,
                            "created_at": start,
                            "updated_at": start,
                        }
                        for c in owners
                    ],
                )
                connection.execute(
                    insert(_table("conversations")),
                    [_conversation_row(n, conversations, people, start) for n in batch],
                )
                connection.execute(
                    insert(_table("taggings")),
                    [
                        {
                            "tenant_id": people.tenant_id,
                            "tag_id": tag_id,
                            "target_type": "conversation",
                            "target_id": ulid_id("cnv", n),
                            "created_at": start,
                        }
                        for n in batch
                        if (n // 3) % TAGGED_EVERY == 0
                    ],
                )
            progress.advance(task, len(batch))
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    building.rename(path)
    size_mb = path.stat().st_size / 1e6
    console.print(
        f"built {conversations:,} conversations in {time.perf_counter() - started:.0f} s ({size_mb:,.0f} MB)"
    )


def ensure_dataset(conversations: int, console: Console) -> Path:
    path = dataset_path(conversations)
    if path.exists():
        console.print(f"reusing {path.relative_to(BENCHMARKS_DIR.parent)}")
    else:
        build_dataset(path, conversations, console)
    return path


# -- over HTTP --------------------------------------------------------------------------------------

OPEN = [("status", "open"), ("status", "pending")]
#: view name: (who asks, query string)
VIEWS: dict[str, tuple[str, str]] = {
    "mine": ("agent", urlencode([("assignee", "me"), *OPEN])),
    "unassigned": ("agent", urlencode([("assignee", "none"), *OPEN])),
    "my_teams": ("agent", urlencode([("team", "mine"), *OPEN])),
    "everything_visible": ("agent", ""),
    "email_open": ("agent", urlencode([("channel", "email"), ("status", "open")])),
    "vip_tagged": ("agent", urlencode([("tag", "vip"), *OPEN])),
    "by_last_change": ("supervisor", urlencode([("status", "open"), ("sort", "updated")])),
    "search_name": ("agent", urlencode([("q", "Customer 99123")])),
    "search_subject": ("agent", urlencode([("q", "Order 991232")])),
    "search_open": ("agent", urlencode([("q", "Order 99"), *OPEN])),
    "counts": ("agent", ""),
}


def sign_in(base: str, email: str) -> str:
    """Sign ``email`` in and return the session cookie header value."""
    with httpx.Client(base_url=base, timeout=30, trust_env=False) as http:
        answer = http.post("/v1/auth/sign-in", json={"tenant": SLUG, "email": email, "password": PASSWORD})
        answer.raise_for_status()
        return "; ".join(f"{name}={value}" for name, value in answer.cookies.items())


def first_page_size(base: str, cookie: str, path: str) -> int:
    with httpx.Client(base_url=base, timeout=60, trust_env=False, headers={"Cookie": cookie}) as http:
        answer = http.get(path)
        answer.raise_for_status()
        body = answer.json()
        return len(body["data"]) if "data" in body else int(body.get("all_open", 0))


def measure(
    path: Path, *, duration_s: int, connections: int
) -> tuple[dict[str, WrkResult], dict[str, WrkResult], dict[str, int]]:
    port = free_port()
    command = [sys.executable, "-m", "cxstack.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = {"CXSTACK_DATABASE_URL": f"sqlite:///{path}", "CXSTACK_LOG_LEVEL": "warning"}
    base = f"http://127.0.0.1:{port}"
    alone: dict[str, WrkResult] = {}
    results: dict[str, WrkResult] = {}
    sizes: dict[str, int] = {}
    with ServerProcess(command, ready_url=f"{base}/healthz", env=env, start_timeout_s=120):
        cookies = {"agent": sign_in(base, agent_email(0, 0)), "supervisor": sign_in(base, SUPERVISOR_EMAIL)}
        for name, (who, query) in VIEWS.items():
            route = "/v1/conversations/counts" if name == "counts" else "/v1/conversations"
            url_path = f"{route}?{query}" if query else route
            sizes[name] = first_page_size(base, cookies[who], url_path)
            for count, into in ((1, alone), (connections, results)):
                result = run_wrk(
                    f"{base}{url_path}",
                    headers={"Cookie": cookies[who]},
                    duration_s=duration_s,
                    connections=count,
                )
                if result.non_2xx_3xx or result.socket_errors:
                    raise RuntimeError(f"{name}: {result.non_2xx_3xx} error responses\n{result.output}")
                into[name] = result
        rendered = asyncio.run(render_times(base, cookies["agent"]))
    return alone, results, sizes, rendered


RENDERS = 7


async def render_times(base: str, cookie: str) -> list[float]:
    """Open the agent's `/app` in Chromium ``RENDERS`` times; return, each time, the milliseconds from the
    start of the navigation to the inbox's first rows drawn."""
    from playwright.async_api import async_playwright

    host = base.split("//", 1)[1].split(":")[0]
    pairs = [part.partition("=") for part in cookie.split("; ")]
    times: list[float] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context()
        await context.add_cookies(
            [{"name": name, "value": value, "domain": host, "path": "/"} for name, _, value in pairs]
        )
        page = await context.new_page()
        for _ in range(RENDERS):
            await page.goto(f"{base}/app", wait_until="commit")
            await page.wait_for_selector(".inbox-row", timeout=30_000)
            times.append(float(await page.evaluate("performance.now()")))
        await browser.close()
    return times[1:]  # the first opening also compiles the page's modules


def main() -> None:
    """Build (or reuse) the data set, load each inbox view, and write `results/inbox.json`."""
    console = Console()
    conversations = conversation_count()
    duration_s = bench_duration()
    connections = _positive_env(CONNECTIONS_ENV, DEFAULT_CONNECTIONS)
    path = ensure_dataset(conversations, console)
    console.print(f"wrk: {duration_s} s a view with {connections} connections, on `cxstack serve`")
    alone, results, sizes, rendered = measure(path, duration_s=duration_s, connections=connections)
    figures: dict[str, tuple[float, str]] = {}
    for name, result in alone.items():
        figures[f"{name}_p50"] = (result.latency_p50_ms, "ms")
        figures[f"{name}_p99"] = (result.latency_p99_ms, "ms")
    figures["browser_first_rows_median"] = (sorted(rendered)[len(rendered) // 2], "ms")
    figures["browser_first_rows_max"] = (max(rendered), "ms")
    for name, result in results.items():
        figures[f"{name}_{connections}_connections_p99"] = (result.latency_p99_ms, "ms")
        figures[f"{name}_{connections}_connections_throughput"] = (result.requests_per_sec, "req/s")
    write_result(
        NAME,
        figures,
        notes={
            "conversations": conversations,
            "open_or_pending": sum(1 for n in range(conversations) if is_open(n, conversations)),
            "target_first_page_p99_ms": TARGET_P99_MS,
            "within_target": {name: r.latency_p99_ms <= TARGET_P99_MS for name, r in alone.items()},
            "first_page_items": sizes,
            "browser_first_rows_ms": rendered,
            "target_browser_ms": TARGET_BROWSER_MS,
            "views": {name: {"as": who, "query": query} for name, (who, query) in VIEWS.items()},
            "duration_s": duration_s,
            "connections": connections,
            "wrk_one_connection": {name: result.summary() for name, result in alone.items()},
            "wrk": {name: result.summary() for name, result in results.items()},
            "dataset": path.name,
        },
        console=console,
    )
