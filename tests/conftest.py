"""Shared fixtures: every database-backed test runs on the embedded driver (SQLite) and, when
``CXSTACK_TEST_DATABASE_URL`` is set, on PostgreSQL too."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from benchmarks.harness import free_port
from tests.channels.email.support import RecordingRelay

from cxstack.backbone.effects import EffectRegistry
from cxstack.backbone.migrate import upgrade
from cxstack.backbone.subscriptions import SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.governance.tenants.service import create_tenant, issue_api_key
from cxstack.kit.clock import Clock
from cxstack.runtime import Runtime
from cxstack.web.app import create_app

PG_URL = os.environ.get("CXSTACK_TEST_DATABASE_URL")
NATS_URL = os.environ.get("CXSTACK_TEST_NATS_URL")
PG_SKIP_REASON = "PostgreSQL tests need CXSTACK_TEST_DATABASE_URL (CI sets it)"
NATS_SKIP_REASON = "NATS tests need CXSTACK_TEST_NATS_URL (CI sets it)"


def _server_and_name(url: str) -> tuple[str, str]:
    base, _, name = url.rpartition("/")
    return base, name


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test process alone, migrated to the newest schema."""
    if not PG_URL:
        pytest.skip(PG_SKIP_REASON)
    server, _ = _server_and_name(PG_URL)
    name = f"cxstack_test_{os.getpid()}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(PG_URL)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = f"{server}/{name}"

    async def migrate() -> None:
        runtime = Runtime.build(Settings(database_url=url), run_bus=False)
        await runtime.db.start()
        try:
            await upgrade(runtime.db)
        finally:
            await runtime.db.stop()

    asyncio.run(migrate())
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def empty_postgres(url: str) -> None:
    """Empty every table of a migrated PostgreSQL database."""
    connection = await asyncpg.connect(url)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename != 'alembic_version'"
        )
        if tables:
            names = ", ".join(f'"{row["tablename"]}"' for row in tables)
            await connection.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database on each driver."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cxstack.db'}"
    url: str = request.getfixturevalue("pg_database")
    asyncio.run(empty_postgres(url))
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        handler_retry_base_seconds=0.01,
        timer_poll_seconds=0.05,
    )


@pytest.fixture
def subscriptions() -> SubscriptionRegistry | None:
    """Override in a test module to run the bus with other subscriptions than cxstack's own."""
    return None


@pytest.fixture
def clock() -> Clock | None:
    """Override in a test module to run the runtime on another clock (a ``FrozenClock``)."""
    return None


@pytest.fixture
def effects() -> EffectRegistry | None:
    """Override in a test module to run the effect runner with other effects than cxstack's own."""
    return None


@asynccontextmanager
async def started_runtime(
    settings: Settings,
    *,
    subscriptions: SubscriptionRegistry | None = None,
    clock: Clock | None = None,
    effects: EffectRegistry | None = None,
) -> AsyncIterator[Runtime]:
    """A started runtime (database migrated, bus running) on the settings' database, stopped on exit."""
    runtime = Runtime.build(settings, subscriptions=subscriptions, clock=clock, effects=effects)
    await runtime.db.start()
    if runtime.db.driver == "sqlite":
        await upgrade(runtime.db)
    if runtime.bus is not None:
        await runtime.bus.start()
    if runtime.effect_runner is not None:
        await runtime.effect_runner.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


@pytest.fixture
async def runtime(
    settings: Settings,
    subscriptions: SubscriptionRegistry | None,
    clock: Clock | None,
    effects: EffectRegistry | None,
) -> AsyncIterator[Runtime]:
    """A started runtime (database migrated, bus running) on the test's driver."""
    async with started_runtime(
        settings, subscriptions=subscriptions, clock=clock, effects=effects
    ) as runtime:
        yield runtime


@dataclass(frozen=True)
class TenantKey:
    tenant_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def make_tenant(runtime: Runtime, slug: str) -> TenantKey:
    def create(uow: UnitOfWork) -> TenantKey:
        tenant = create_tenant(uow, name=slug.title(), slug=slug)
        issued = issue_api_key(uow, tenant_id=tenant.id, name="tests")
        return TenantKey(tenant.id, issued.key)

    return await runtime.db.write(create)


@pytest.fixture
async def tenant(runtime: Runtime) -> TenantKey:
    return await make_tenant(runtime, "acme")


@pytest.fixture
async def other_tenant(runtime: Runtime) -> TenantKey:
    return await make_tenant(runtime, "globex")


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process (no authentication header set)."""
    app = create_app(runtime, manage_runtime=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cxstack.test") as http:
        yield http


@pytest.fixture
async def api(client: httpx.AsyncClient, tenant: TenantKey) -> httpx.AsyncClient:
    """The in-process client authenticated as the ``acme`` tenant."""
    client.headers.update(tenant.headers)
    return client


@pytest.fixture
def relay() -> Iterator[RecordingRelay]:
    """A real SMTP server in a thread, standing in for the relay outbound mail goes through (a tenant's
    email replies, password reset links)."""
    recording = RecordingRelay(port=free_port())
    controller = Controller(recording, hostname="127.0.0.1", port=recording.port)
    controller.start()
    try:
        yield recording
    finally:
        controller.stop()


def pytest_configure(config: pytest.Config) -> None:
    """In CI the service-backed tests are required: refuse to run without their services."""
    if os.environ.get("CI") == "true":
        missing = [
            name
            for name in ("CXSTACK_TEST_DATABASE_URL", "CXSTACK_TEST_NATS_URL")
            if not os.environ.get(name)
        ]
        if missing:
            raise pytest.UsageError(f"CI=true but {', '.join(missing)} not set: service tests are required")
