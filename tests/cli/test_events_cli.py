"""``cxstack events``: tail, subscriptions, replay and dead letters, on both drivers.

The commands run in this process through typer's CliRunner on the database in CXSTACK_DATABASE_URL. Each
test hands the CLI its own subscriptions as the click context object, the seam the CLI offers for this.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
from click.testing import Result
from typer.testing import CliRunner

from cxstack.backbone.envelope import Event
from cxstack.backbone.inspection import subscription_statuses
from cxstack.backbone.migrate import upgrade
from cxstack.backbone.subscriptions import EventHandlers, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.cli.main import app
from cxstack.config import Settings
from cxstack.governance.audit.service import list_audit
from cxstack.governance.tenants.service import create_tenant
from cxstack.records.customers.schemas import CustomerCreate, CustomerCreated
from cxstack.records.customers.service import create_customer
from cxstack.runtime import Runtime

T = TypeVar("T")


@dataclass
class Crm:
    """What the test subscriptions write to: a stand-in for an outside system that can be down."""

    down: bool = False
    synced: list[str] = field(default_factory=list)
    projection: list[int] = field(default_factory=list)


@pytest.fixture
def crm() -> Crm:
    return Crm()


@pytest.fixture
def registry(crm: Crm) -> SubscriptionRegistry:
    def sync_customer(_uow: UnitOfWork, _data: CustomerCreated, event: Event) -> None:
        if crm.down:
            raise RuntimeError("crm is down")
        crm.synced.append(event.id)

    def project(_uow: UnitOfWork, _data: CustomerCreated, event: Event) -> None:
        crm.projection.append(event.seq)

    def drop_projection(_uow: UnitOfWork) -> None:
        crm.projection.clear()

    registry = SubscriptionRegistry()
    registry.add("interop.crm_sync", EventHandlers({CustomerCreated: sync_customer}))
    registry.add("analytics.counts", EventHandlers({CustomerCreated: project}), reset=drop_projection)
    return registry


@pytest.fixture
def settings(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings of both this test's runtime and the CLI (which reads them from the environment)."""
    monkeypatch.setenv("CXSTACK_DATABASE_URL", database_url)
    monkeypatch.setenv("CXSTACK_HANDLER_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("CXSTACK_HANDLER_RETRY_BASE_SECONDS", "0.01")
    return Settings()


@pytest.fixture
def cli(registry: SubscriptionRegistry) -> Callable[..., Result]:
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), obj=registry, input=input, env={"COLUMNS": "200"})

    return invoke


def on_runtime(
    settings: Settings, registry: SubscriptionRegistry, work: Callable[[Runtime], Awaitable[T]]
) -> T:
    """Run ``work`` on a migrated runtime whose bus is built but not started (tests drive it)."""

    async def run() -> T:
        runtime = Runtime.build(settings, subscriptions=registry, run_bus=True)
        await runtime.db.start()
        try:
            await upgrade(runtime.db)
            return await work(runtime)
        finally:
            await runtime.stop()

    return asyncio.run(run())


async def add_tenant(runtime: Runtime, slug: str) -> str:
    return await runtime.db.write(lambda uow: create_tenant(uow, name=slug.title(), slug=slug).id)


async def add_customers(runtime: Runtime, tenant_id: str, *names: str) -> list[str]:
    def create(uow: UnitOfWork) -> list[str]:
        return [
            create_customer(uow, tenant_id=tenant_id, data=CustomerCreate(name=name)).id for name in names
        ]

    return await runtime.db.write(create)


async def deliver_until_dead(runtime: Runtime, registry: SubscriptionRegistry, dead: int) -> None:
    """Deliver (and retry) until ``dead`` dead letters exist."""
    assert runtime.bus is not None
    partitions = runtime.db.partitions
    for _ in range(300):
        await runtime.bus.drain()
        statuses = await runtime.db.read(
            lambda session: subscription_statuses(session, registry=registry, partitions=partitions)
        )
        if sum(status.dead for status in statuses) >= dead:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {dead} dead letters after retrying")


def json_lines(result: Result) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]


@dataclass
class Seeded:
    tenant_id: str
    other_tenant_id: str
    customer_ids: list[str]


@pytest.fixture
def dead_letter(settings: Settings, registry: SubscriptionRegistry, crm: Crm) -> Seeded:
    """Two tenants; acme's customer failed the CRM sync every attempt and is a dead letter."""

    async def work(runtime: Runtime) -> Seeded:
        acme = await add_tenant(runtime, "acme")
        globex = await add_tenant(runtime, "globex")
        crm.down = True
        customers = await add_customers(runtime, acme, "Ada Lovelace")
        await deliver_until_dead(runtime, registry, 1)
        return Seeded(acme, globex, customers)

    return on_runtime(settings, registry, work)


def test_dead_letter_is_listed_shown_retried_and_gone_once_the_handler_succeeds(
    cli: Callable[..., Result],
    dead_letter: Seeded,
    crm: Crm,
    settings: Settings,
    registry: SubscriptionRegistry,
) -> None:
    listed = cli("events", "dead-letters", "list", "--json")
    assert listed.exit_code == 0, listed.output
    [item] = json_lines(listed)
    assert item["subscription"] == "interop.crm_sync"
    assert item["event_type"] == "customer.created"
    assert item["subject"] == dead_letter.customer_ids[0]
    assert item["tenant_id"] == dead_letter.tenant_id
    assert item["error"] == "RuntimeError: crm is down"
    attempts = item["attempts"]

    table = cli("events", "dead-letters", "list")
    assert "interop.crm_sync" in table.stdout and "RuntimeError: crm is down" in table.stdout

    shown = cli("events", "dead-letters", "show", str(item["id"]))
    assert shown.exit_code == 0, shown.output
    assert item["event_id"] in shown.stdout
    assert '"specversion": "1.0"' in shown.stdout
    assert "Traceback (most recent call last)" in shown.stdout
    assert "crm is down" in shown.stdout

    still_down = cli("events", "dead-letters", "retry", str(item["id"]))
    assert still_down.exit_code == 1
    assert "failed again" in still_down.stdout and "RuntimeError: crm is down" in still_down.stdout
    [again] = json_lines(cli("events", "dead-letters", "list", "--json"))
    assert again["id"] == item["id"] and again["attempts"] == attempts + 1

    crm.down = False
    fixed = cli("events", "dead-letters", "retry", str(item["id"]))
    assert fixed.exit_code == 0, fixed.output
    assert f"dead letter {item['id']} delivered" in fixed.stdout
    assert crm.synced == [item["event_id"]]
    assert json_lines(cli("events", "dead-letters", "list", "--json")) == []
    statuses = {s["name"]: s for s in json_lines(cli("events", "subscriptions", "--json"))}
    assert statuses["interop.crm_sync"]["dead"] == 0

    async def audit(runtime: Runtime) -> list[tuple[str, str, bool]]:
        entries = await runtime.db.read(
            lambda session: list_audit(session, tenant_id=dead_letter.tenant_id, target_id=str(item["id"]))
        )
        return [(e.action, e.actor, e.detail["succeeded"]) for e in entries]

    trail = on_runtime(settings, registry, audit)
    assert [(action, succeeded) for action, _actor, succeeded in trail] == [
        ("dead_letter.retried", True),
        ("dead_letter.retried", False),
    ]
    assert all(actor.startswith("cli:") for _action, actor, _ in trail)


def test_retry_all_retries_only_the_dead_letters_asked_for(
    cli: Callable[..., Result], settings: Settings, registry: SubscriptionRegistry, crm: Crm
) -> None:
    async def work(runtime: Runtime) -> tuple[str, str]:
        acme = await add_tenant(runtime, "acme")
        globex = await add_tenant(runtime, "globex")
        crm.down = True
        await add_customers(runtime, acme, "Ada", "Grace")
        await add_customers(runtime, globex, "Linus")
        await deliver_until_dead(runtime, registry, 3)
        return acme, globex

    acme, _globex = on_runtime(settings, registry, work)
    crm.down = False
    result = cli("events", "dead-letters", "retry", "--all", "--tenant", "globex")
    assert result.exit_code == 0, result.output
    assert "retried 1: 1 delivered, 0 failed again" in result.stdout
    remaining = json_lines(cli("events", "dead-letters", "list", "--json"))
    assert {item["tenant_id"] for item in remaining} == {acme}
    assert len(remaining) == 2

    crm.down = True
    failing = cli("events", "dead-letters", "retry", "--all", "--subscription", "interop.crm_sync")
    assert failing.exit_code == 1
    assert "retried 2: 0 delivered, 2 failed again" in failing.stdout

    crm.down = False
    rest = cli("events", "dead-letters", "retry", "--all", "--subscription", "interop.crm_sync")
    assert rest.exit_code == 0, rest.output
    assert json_lines(cli("events", "dead-letters", "list", "--json")) == []
    assert len(crm.synced) == 3


def test_retry_needs_an_id_or_all_and_an_unknown_id_is_an_error(
    cli: Callable[..., Result], dead_letter: Seeded
) -> None:
    neither = cli("events", "dead-letters", "retry")
    assert neither.exit_code == 2
    assert "give either a dead letter ID or --all" in neither.output
    unknown = cli("events", "dead-letters", "retry", "999999")
    assert unknown.exit_code == 1
    assert "dead letter 999999 does not exist" in unknown.output
    missing = cli("events", "dead-letters", "show", "999999")
    assert missing.exit_code == 1


def test_tail_prints_the_last_events_filtered_by_type_tenant_and_subject(
    cli: Callable[..., Result], settings: Settings, registry: SubscriptionRegistry
) -> None:
    async def work(runtime: Runtime) -> tuple[str, str, list[str]]:
        acme = await add_tenant(runtime, "acme")
        globex = await add_tenant(runtime, "globex")
        customers = await add_customers(runtime, acme, "Ada", "Grace", "Hedy")
        await add_customers(runtime, globex, "Linus")
        return acme, globex, customers

    acme, _globex, customers = on_runtime(settings, registry, work)

    everything = json_lines(cli("events", "tail", "--json"))
    assert [e["type"] for e in everything] == ["tenant.created"] * 2 + ["customer.created"] * 4
    sequences = [int(e["sequence"]) for e in everything]
    assert sequences == sorted(sequences)
    assert everything[0]["specversion"] == "1.0"

    last_two = json_lines(cli("events", "tail", "--json", "--last", "2", "--type", "customer.created"))
    assert [e["data"]["name"] for e in last_two] == ["Hedy", "Linus"]

    acme_customers = json_lines(cli("events", "tail", "--json", "-t", "customer.created", "--tenant", "acme"))
    assert [e["subject"] for e in acme_customers] == customers
    assert {e["tenant"] for e in acme_customers} == {acme}

    by_id = json_lines(cli("events", "tail", "--json", "--tenant", acme, "--subject", customers[1]))
    assert [e["data"]["name"] for e in by_id] == ["Grace"]

    table = cli("events", "tail", "--type", "customer.created", "--last", "1")
    assert table.exit_code == 0, table.output
    assert "customer.created" in table.stdout and "Linus" in table.stdout and "seq" in table.stdout

    nothing = cli("events", "tail", "--type", "no.such_type")
    assert nothing.exit_code == 0 and "no events" in nothing.stdout


def test_tail_follow_prints_events_as_they_are_committed_and_stops_cleanly_on_ctrl_c(
    settings: Settings, registry: SubscriptionRegistry, tmp_path: Path
) -> None:
    tenant_id = on_runtime(settings, registry, lambda runtime: add_tenant(runtime, "acme"))
    env = {**os.environ, "CXSTACK_DATABASE_URL": settings.database_url}
    # Its error output goes to a file: a pipe nobody reads until the end could fill and stall it.
    errors = (tmp_path / "follower.err").open("w+")
    follower = subprocess.Popen(
        [sys.executable, "-m", "cxstack.cli.main", "events", "tail", "--follow", "--json", "--last", "1"],
        stdout=subprocess.PIPE,
        stderr=errors,
        env=env,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert follower.stdout is not None
    stdout = follower.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    try:
        first = orjson.loads(lines.get(timeout=30))
        assert first["type"] == "tenant.created"
        on_runtime(settings, registry, lambda runtime: add_customers(runtime, tenant_id, "Ada"))
        followed = orjson.loads(lines.get(timeout=10))
        assert followed["type"] == "customer.created" and followed["data"]["name"] == "Ada"
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
        errors.seek(0)
        error_output = errors.read()
        errors.close()
    assert "Traceback" not in error_output, error_output


def test_subscriptions_show_position_lag_and_parked_deliveries(
    cli: Callable[..., Result], settings: Settings, registry: SubscriptionRegistry, crm: Crm
) -> None:
    async def work(runtime: Runtime) -> None:
        acme = await add_tenant(runtime, "acme")
        await add_customers(runtime, acme, "Ada", "Grace", "Hedy")

    on_runtime(settings, registry, work)
    before = {s["name"]: s for s in json_lines(cli("events", "subscriptions", "--json"))}
    assert before["analytics.counts"]["lag"] == 3
    assert before["analytics.counts"]["position"] == 0
    assert before["analytics.counts"]["head"] == 4
    assert before["interop.crm_sync"]["types"] == ["customer.created"]

    async def deliver(runtime: Runtime) -> None:
        crm.down = True
        assert runtime.bus is not None
        await runtime.bus.drain()

    # Retries far off, so that the failures stay parked rather than becoming dead letters.
    on_runtime(settings.model_copy(update={"handler_retry_base_seconds": 600}), registry, deliver)
    after = {s["name"]: s for s in json_lines(cli("events", "subscriptions", "--json"))}
    assert after["analytics.counts"]["lag"] == 0
    assert after["analytics.counts"]["position"] == 4
    assert after["interop.crm_sync"]["parked"] == 3  # three subjects, each failed once
    assert after["interop.crm_sync"]["dead"] == 0

    table = cli("events", "subscriptions")
    assert table.exit_code == 0, table.output
    assert "analytics.counts" in table.stdout and "interop.crm_sync" in table.stdout


def test_replay_rebuilds_a_projection_from_the_log(
    cli: Callable[..., Result], settings: Settings, registry: SubscriptionRegistry, crm: Crm
) -> None:
    async def work(runtime: Runtime) -> None:
        acme = await add_tenant(runtime, "acme")
        await add_customers(runtime, acme, "Ada", "Grace", "Hedy")
        assert runtime.bus is not None
        await runtime.bus.drain()

    on_runtime(settings, registry, work)
    built = list(crm.projection)
    assert len(built) == 3
    crm.projection.append(-1)  # a corrupted projection, which the replay must throw away

    declined = cli("events", "replay", "analytics.counts", input="n\n")
    assert declined.exit_code == 1
    assert crm.projection == [*built, -1]

    replayed = cli("events", "replay", "analytics.counts", input="y\n")
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 3 events to analytics.counts" in replayed.stdout
    assert crm.projection == built

    partial = cli("events", "replay", "analytics.counts", "--from-seq", str(built[0]), "--yes")
    assert partial.exit_code == 0, partial.output
    assert "replayed 2 events" in partial.stdout
    assert crm.projection == built[1:]
    statuses = {s["name"]: s for s in json_lines(cli("events", "subscriptions", "--json"))}
    assert statuses["analytics.counts"]["lag"] == 0


def test_replay_of_an_unknown_subscription_exits_2_naming_the_known_ones(cli: Callable[..., Result]) -> None:
    result = cli("events", "replay", "records.nope", "--yes")
    assert result.exit_code == 2
    assert "No subscription named 'records.nope'" in result.output
    assert "analytics.counts, interop.crm_sync" in result.output


def test_commands_on_a_database_without_schema_say_to_upgrade(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXSTACK_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = cli("events", "tail")
    assert result.exit_code == 1
    assert "cxstack db upgrade" in result.output
