"""The reads people wait on, among 1,000,000 customers: lookup by identity in-process, and over HTTP a
customer, a conversation, a page of a timeline and a lookup.

The data set (one tenant, each customer with an email and a phone identity; every tenth customer with a
conversation and a timeline of 25 entries) is written straight into an embedded SQLite file with SQLAlchemy
Core bulk inserts, once: it is kept under `benchmarks/.data/`, named by the schema it was built for, so
later runs reuse it. Then:

- `lookup_customer` is called in-process for 20,000 random identities, half emails and half phone
  numbers written in assorted formats, each in its own session, and timed one by one;
- `cxstack serve` is started on the file and wrk asks, route by route, for random customers
  (`GET /v1/customers/{id}`), conversations (`GET /v1/conversations/{id}`), timeline pages
  (`GET /v1/customers/{id}/timeline?limit=20`) and lookups (`GET /v1/customers/lookup`, the identities
  above).

`CXSTACK_BENCH_LOOKUP_CUSTOMERS` builds a smaller data set for a quick run. The targets: p99 of the service
call under 5 ms; over HTTP at 64 connections each route at least 3,000 req/s with p99 at most 50 ms.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import phonenumbers
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Engine, Table, create_engine, event, insert
from sqlalchemy.orm import Session

from benchmarks.ceiling import measure_ceiling
from benchmarks.harness import (
    BENCHMARKS_DIR,
    ServerProcess,
    WrkResult,
    bench_connections,
    bench_duration,
    free_port,
    run_wrk,
    write_result,
)
from cxstack.backbone.migrate import MIGRATIONS, head_revision, upgrade
from cxstack.config import Settings
from cxstack.governance.tenants.models import ApiKey, Tenant
from cxstack.governance.tenants.schemas import SCOPES
from cxstack.governance.tenants.service import digest_of
from cxstack.kit.orm import Base
from cxstack.records.conversations.models import Conversation
from cxstack.records.customers.models import Customer, Identity
from cxstack.records.customers.service import lookup_customer
from cxstack.records.timeline.models import TimelineEntry
from cxstack.runtime import Runtime

NAME = "lookup"
DATA_DIR = BENCHMARKS_DIR / ".data"
CUSTOMERS_ENV = "CXSTACK_BENCH_LOOKUP_CUSTOMERS"
DEFAULT_CUSTOMERS = 1_000_000
LOOKUPS = 20_000
WARM_UP = 2_000
BATCH = 50_000
TARGET_P99_MS = 5.0
#: Bumped whenever the rows the build writes change, so an old data set is not reused.
DATA_VERSION = 2
#: Every this many customers one has a conversation and a timeline of TIMELINE_ENTRIES entries.
CONVERSATION_EVERY = 10
TIMELINE_ENTRIES = 25
TARGET_HTTP_THROUGHPUT = 3_000
TARGET_HTTP_P99_MS = 50.0

TENANT_ID = "ten_01J0BENCH0000000000000000"
API_KEY = "cxk_lookup-benchmark-not-a-secret-000000"
#: US area codes; with the 555 exchange every one of their 10,000 lines is a valid number.
_AREA_CODES = (
    "201 202 203 205 206 207 208 209 210 212 213 214 215 216 217 218 219 224 225 228 229 231 234 239 240 "
    "248 251 252 253 254 256 260 262 267 269 270 276 281 301 302 303 304 305 307 308 309 310 312 313 314 "
    "315 316 317 318 319 320 321 323 325 330 331 334 336 337 339 347 351 352 360 361 385 386 401 402 404 "
    "405 406 407 408 409 410 412 413 414 415 417 419 423 424 425 430 432 434 435 440 442 443 458 469 470 "
    "475 478 479 480 484 501 502 503 504 505 507 508 509 510 512 513 515 516 517 518 520 530 540 541 551"
)
AREA_CODES = tuple(_AREA_CODES.split())
LINES_PER_AREA = 10_000
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BASE_MS = 1_700_000_000_000


# -- the data set -----------------------------------------------------------------------------------


def customer_count() -> int:
    raw = os.environ.get(CUSTOMERS_ENV, "").strip()
    count = int(raw) if raw else DEFAULT_CUSTOMERS
    if not 1 <= count <= len(AREA_CODES) * LINES_PER_AREA:
        raise ValueError(f"{CUSTOMERS_ENV} must be between 1 and {len(AREA_CODES) * LINES_PER_AREA}")
    return count


def schema_key() -> str:
    """The schema revision plus a digest of the migrations, which change while revision 0001 is rewritten."""
    digest = hashlib.sha256(str(DATA_VERSION).encode())
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        digest.update(path.read_bytes())
    return f"{head_revision()}-{digest.hexdigest()[:12]}"


def dataset_path(customers: int) -> Path:
    return DATA_DIR / f"lookup-{customers}-{schema_key()}.db"


def ulid_id(prefix: str, n: int) -> str:
    """A ULID-shaped id that sorts in ``n`` order, so the build appends to every primary key index."""
    value = ((BASE_MS + n) << 80) | n
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def email_of(n: int) -> str:
    return f"customer{n}@example.com"


def phone_of(n: int) -> str:
    area, line = AREA_CODES[n // LINES_PER_AREA], n % LINES_PER_AREA
    return f"+1{area}555{line:04d}"


def _check_phone_numbers(customers: int) -> None:
    rng = random.Random(7)
    for n in [0, customers - 1, *(rng.randrange(customers) for _ in range(500))]:
        if not phonenumbers.is_valid_number(phonenumbers.parse(phone_of(n))):
            raise RuntimeError(f"generated phone number {phone_of(n)} is not valid; pick other area codes")


def _batches(customers: int, size: int) -> Iterator[range]:
    for start in range(0, customers, size):
        yield range(start, min(start + size, customers))


def _migrate(path: Path) -> None:
    async def run() -> None:
        runtime = Runtime.build(Settings(database_url=f"sqlite:///{path}"), run_bus=False)
        await runtime.db.start()
        try:
            await upgrade(runtime.db)
        finally:
            await runtime.db.stop()

    asyncio.run(run())


def build_dataset(path: Path, customers: int, console: Console) -> None:
    """Write ``customers`` customers, each with an email and a phone identity, into a new file at ``path``."""
    _check_phone_numbers(customers)
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.name + ".building")
    for leftover in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
        leftover.unlink(missing_ok=True)
    _migrate(building)
    engine = create_engine(f"sqlite:///{building}")

    @event.listens_for(engine, "connect")
    def _bulk_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The file is thrown away if the build dies, so it needs no durability until it is done.
        for pragma in ("synchronous=OFF", "cache_size=-262144", "temp_store=MEMORY"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    now = datetime.now(UTC)
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(
            insert(_table(Tenant)), [{"id": TENANT_ID, "name": "Bench", "slug": "bench", "created_at": now}]
        )
        connection.execute(
            insert(_table(ApiKey)),
            [
                {
                    "id": ulid_id("key", 0),
                    "tenant_id": TENANT_ID,
                    "name": "benchmark",
                    "prefix": API_KEY[:10],
                    "digest": digest_of(API_KEY),
                    "scopes": list(SCOPES),
                    "created_at": now,
                    "last_used_at": None,
                    "revoked_at": None,
                }
            ],
        )
    columns = TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"building {path.name}", total=customers)
        for batch in _batches(customers, BATCH):
            with engine.begin() as connection:
                connection.execute(insert(_table(Customer)), [_customer_row(n, now) for n in batch])
                connection.execute(
                    insert(_table(Identity)),
                    [row for n in batch for row in _identity_rows(n, now)],
                )
                talking = [n for n in batch if n % CONVERSATION_EVERY == 0]
                if talking:
                    connection.execute(
                        insert(_table(Conversation)), [_conversation_row(n, now) for n in talking]
                    )
                    connection.execute(
                        insert(_table(TimelineEntry)),
                        [row for n in talking for row in _timeline_rows(n, now)],
                    )
            progress.advance(task, len(batch))
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    building.rename(path)
    size_mb = path.stat().st_size / 1e6
    console.print(
        f"built {customers:,} customers in {time.perf_counter() - started:.0f} s ({size_mb:,.0f} MB)"
    )


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


def _customer_row(n: int, now: datetime) -> dict[str, Any]:
    return {
        "id": ulid_id("cus", n),
        "tenant_id": TENANT_ID,
        "name": f"Customer {n}",
        "email": email_of(n),
        "phone": phone_of(n),
        "account_id": None,
        "attributes": {},
        "merged_into_id": None,
        "created_at": now,
        "updated_at": now,
    }


def _identity_rows(n: int, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    common = {"tenant_id": TENANT_ID, "customer_id": ulid_id("cus", n), "system": "", "verified": False}
    return (
        {**common, "id": ulid_id("idn", 2 * n), "kind": "email", "value": email_of(n), "created_at": now},
        {**common, "id": ulid_id("idn", 2 * n + 1), "kind": "phone", "value": phone_of(n), "created_at": now},
    )


def _conversation_row(n: int, now: datetime) -> dict[str, Any]:
    return {
        "id": ulid_id("cnv", n),
        "tenant_id": TENANT_ID,
        "customer_id": ulid_id("cus", n),
        "origin_channel": "webchat",
        "channel": "webchat",
        "status": "open",
        "subject": f"Order {n}",
        "assignee": None,
        "priority": "normal",
        "attributes": {"order": n},
        "message_count": TIMELINE_ENTRIES - 1,
        "created_at": now,
        "updated_at": now,
        "closed_at": None,
        "last_message_at": now,
    }


def _timeline_rows(n: int, now: datetime) -> list[dict[str, Any]]:
    """The conversation's creation and its messages, a minute apart, as the timeline projects them."""
    rows = []
    for i in range(TIMELINE_ENTRIES):
        seq = n * TIMELINE_ENTRIES + i + 1
        kind = "conversation.created" if i == 0 else ("message.received", "message.sent")[i % 2]
        rows.append(
            {
                "tenant_id": TENANT_ID,
                "customer_id": ulid_id("cus", n),
                "origin_customer_id": ulid_id("cus", n),
                "owner_seq": seq,
                "occurred_at": now - timedelta(minutes=TIMELINE_ENTRIES - i),
                "event_seq": seq,
                "event_id": ulid_id("evt", seq),
                "kind": kind,
                "channel": "webchat",
                "conversation_id": ulid_id("cnv", n),
                "summary": f"message {i} of conversation {n}",
                "ref_id": ulid_id("cnv" if i == 0 else "msg", seq),
            }
        )
    return rows


def ensure_dataset(customers: int, console: Console) -> Path:
    path = dataset_path(customers)
    if path.exists():
        console.print(f"reusing {path.relative_to(BENCHMARKS_DIR.parent)}")
    else:
        build_dataset(path, customers, console)
    return path


# -- what to look up --------------------------------------------------------------------------------

PHONE_FORMATS: tuple[Callable[[str, str, str], str], ...] = (
    lambda a, e, line: f"+1{a}{e}{line}",
    lambda a, e, line: f"+1 {a}-{e}-{line}",
    lambda a, e, line: f"({a}) {e}-{line}",
    lambda a, e, line: f"{a}.{e}.{line}",
    lambda a, e, line: f"1-{a}-{e}-{line}",
    lambda a, e, line: f"{a} {e} {line}",
)
EMAIL_FORMATS: tuple[Callable[[str], str], ...] = (
    lambda email: email,
    lambda email: email.upper(),
    lambda email: email.replace("@example.com", "@Example.COM"),
    lambda email: f"  {email} ",
)


def lookups(customers: int, count: int, *, seed: int = 42) -> list[tuple[str, str, str]]:
    """``count`` random ``(kind, value, expected customer id)``: half emails, half phones, mixed formats."""
    rng = random.Random(seed)
    chosen = []
    for i in range(count):
        n = rng.randrange(customers)
        if i % 2 == 0:
            chosen.append(("email", rng.choice(EMAIL_FORMATS)(email_of(n)), ulid_id("cus", n)))
        else:
            digits = phone_of(n)[2:]
            value = rng.choice(PHONE_FORMATS)(digits[:3], digits[3:6], digits[6:])
            chosen.append(("phone", value, ulid_id("cus", n)))
    return chosen


# -- in-process -------------------------------------------------------------------------------------


def read_engine(path: Path) -> Engine:
    """An engine configured as the embedded driver configures its readers."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _reader_pragmas(dbapi_connection: Any, _record: Any) -> None:
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "temp_store=MEMORY", "cache_size=-65536"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    return engine


def percentile(sorted_ms: Sequence[float], q: float) -> float:
    """The nearest-rank percentile ``q`` (0-100) of ascending values."""
    rank = max(1, min(len(sorted_ms), round(q / 100 * len(sorted_ms) + 0.5)))
    return sorted_ms[rank - 1]


def measure_service(path: Path, wanted: list[tuple[str, str, str]]) -> dict[str, float]:
    """Time ``lookup_customer`` once per identity, each in a fresh session; raises if one is wrong."""
    engine = read_engine(path)
    durations: list[float] = []
    #: CPU time of the same calls: where it stays low while the wall time is high, the machine was busy
    #: with something else.
    cpu: list[float] = []
    try:
        for index, (kind, value, expected) in enumerate(wanted):
            started, cpu_started = time.perf_counter_ns(), time.thread_time_ns()
            with Session(engine) as session:
                found = lookup_customer(session, tenant_id=TENANT_ID, kind=kind, value=value)
            elapsed = (time.perf_counter_ns() - started) / 1e6
            if found.id != expected:
                raise RuntimeError(f"lookup of {kind} {value!r} found {found.id}, not {expected}")
            if index >= WARM_UP:
                durations.append(elapsed)
                cpu.append((time.thread_time_ns() - cpu_started) / 1e6)
            elif index == WARM_UP - 1:
                # As `cxstack serve` does after start-up: long-lived objects out of the collector's way.
                gc.collect()
                gc.freeze()
    finally:
        gc.unfreeze()
        engine.dispose()
    durations.sort()
    cpu.sort()
    return {
        "p50": percentile(durations, 50),
        "p99": percentile(durations, 99),
        "max": durations[-1],
        "mean": sum(durations) / len(durations),
        "cpu_p50": percentile(cpu, 50),
        "cpu_p99": percentile(cpu, 99),
    }


def query_plans(path: Path) -> dict[str, list[str]]:
    """EXPLAIN QUERY PLAN of every statement one lookup runs, as SQLite will run them."""
    engine = read_engine(path)
    statements: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if not statement.startswith("EXPLAIN"):
            statements.append((statement, parameters))

    plans: dict[str, list[str]] = {}
    try:
        with Session(engine) as session:
            lookup_customer(session, tenant_id=TENANT_ID, kind="email", value=email_of(0))
            connection = session.connection()
            for statement, parameters in list(statements):
                rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, tuple(parameters))
                plans[" ".join(statement.split())] = [str(row[-1]) for row in rows]
    finally:
        engine.dispose()
    return plans


# -- over HTTP --------------------------------------------------------------------------------------


def read_routes(customers: int, wanted: list[tuple[str, str, str]], *, seed: int = 7) -> dict[str, list[str]]:
    """The paths wrk asks for, route by route: random customers, conversations, timeline pages, lookups."""
    rng = random.Random(seed)
    talking = range(0, customers, CONVERSATION_EVERY)
    some_customers = [rng.randrange(customers) for _ in range(LOOKUPS)]
    some_talking = [rng.choice(talking) for _ in range(LOOKUPS)]
    return {
        "customer": [f"/v1/customers/{ulid_id('cus', n)}" for n in some_customers],
        "conversation": [f"/v1/conversations/{ulid_id('cnv', n)}" for n in some_talking],
        "timeline": [f"/v1/customers/{ulid_id('cus', n)}/timeline?limit=20" for n in some_talking],
        "lookup": [
            f"/v1/customers/lookup?{urlencode({'kind': kind, 'value': value})}" for kind, value, _ in wanted
        ],
    }


def measure_http(
    path: Path, routes: dict[str, list[str]], *, duration_s: int, connections: int
) -> tuple[dict[str, WrkResult], WrkResult]:
    """Serve the data set with `cxstack serve`, load each route with `connections`, then lookups with one."""
    port = free_port()
    command = [sys.executable, "-m", "cxstack.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = {"CXSTACK_DATABASE_URL": f"sqlite:///{path}", "CXSTACK_LOG_LEVEL": "warning"}
    base = f"http://127.0.0.1:{port}"
    results: dict[str, WrkResult] = {}

    def load(paths: list[str], count: int) -> WrkResult:
        result = run_wrk(
            f"{base}{paths[0]}",
            headers={"Authorization": f"Bearer {API_KEY}"},
            duration_s=duration_s,
            connections=count,
            path_sequence=paths,
        )
        if result.non_2xx_3xx or result.socket_errors:
            raise RuntimeError(
                f"reads over HTTP failed: {result.non_2xx_3xx} error responses, "
                f"{result.socket_errors} socket errors\n{result.output}"
            )
        return result

    with ServerProcess(command, ready_url=f"{base}/healthz", env=env, start_timeout_s=60):
        for name, paths in routes.items():
            results[name] = load(paths, connections)
        alone = load(routes["lookup"], 1)
    return results, alone


def main() -> None:
    """Build (or reuse) the data set, measure both ways, and write `results/lookup.json`."""
    console = Console()
    customers = customer_count()
    duration_s, connections = bench_duration(), bench_connections()
    path = ensure_dataset(customers, console)
    wanted = lookups(customers, WARM_UP + LOOKUPS)
    console.print(f"{LOOKUPS:,} lookups in-process ({WARM_UP:,} more first to warm up)")
    service = measure_service(path, wanted)
    plans = query_plans(path)
    console.print(f"wrk: {duration_s} s a route with {connections} connections, then one, on `cxstack serve`")
    http, alone = measure_http(
        path, read_routes(customers, wanted), duration_s=duration_s, connections=connections
    )
    top = measure_ceiling(duration_s, connections)
    figures: dict[str, tuple[float, str]] = {
        "service_p50": (service["p50"], "ms"),
        "service_p99": (service["p99"], "ms"),
        "service_max": (service["max"], "ms"),
        "service_cpu_p99": (service["cpu_p99"], "ms"),
    }
    for name, result in http.items():
        figures[f"http_{name}_throughput"] = (result.requests_per_sec, "req/s")
        figures[f"http_{name}_p50"] = (result.latency_p50_ms, "ms")
        figures[f"http_{name}_p99"] = (result.latency_p99_ms, "ms")
        ratio = result.requests_per_sec / top.requests_per_sec if top.requests_per_sec else 0.0
        figures[f"http_{name}_ratio_to_ceiling"] = (ratio, "ratio")
    figures["http_lookup_one_connection_p50"] = (alone.latency_p50_ms, "ms")
    figures["http_lookup_one_connection_p99"] = (alone.latency_p99_ms, "ms")
    write_result(
        NAME,
        figures,
        ceiling={"http_throughput": (top.requests_per_sec, "req/s"), "http_p99": (top.latency_p99_ms, "ms")},
        notes={
            "customers": customers,
            "identities": 2 * customers,
            "conversations": len(range(0, customers, CONVERSATION_EVERY)),
            "timeline_entries": len(range(0, customers, CONVERSATION_EVERY)) * TIMELINE_ENTRIES,
            "lookups": LOOKUPS,
            "target_service_p99_ms": TARGET_P99_MS,
            "service_p99_within_target": service["p99"] < TARGET_P99_MS,
            "target_http": f">= {TARGET_HTTP_THROUGHPUT} req/s, p99 <= {TARGET_HTTP_P99_MS} ms",
            "http_within_target": {
                name: result.requests_per_sec >= TARGET_HTTP_THROUGHPUT
                and result.latency_p99_ms <= TARGET_HTTP_P99_MS
                for name, result in http.items()
            },
            "service_mean_ms": service["mean"],
            "service_cpu_p50_ms": service["cpu_p50"],
            "duration_s": duration_s,
            "connections": connections,
            "wrk": {name: result.summary() for name, result in http.items()},
            "wrk_lookup_one_connection": alone.summary(),
            "query_plans": plans,
            "dataset": path.name,
        },
        console=console,
    )
