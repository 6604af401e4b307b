"""A server killed in the middle of writes loses nothing it acknowledged and leaves nothing half-written."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
from benchmarks.harness import ServerProcess, free_port
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.backbone.log import read_events
from cxstack.config import Settings
from cxstack.governance.tenants.service import create_tenant, issue_api_key
from cxstack.records.customers.models import Customer
from cxstack.runtime import Runtime

CXSTACK = str(Path(sys.executable).with_name("cxstack"))
WRITERS = 32
LOAD_S = 2.5


async def _tenant_key(database_url: str) -> tuple[str, str]:
    runtime = Runtime.build(Settings(database_url=database_url), run_bus=False)
    await runtime.db.start()
    try:

        def create(uow):  # type: ignore[no-untyped-def]
            tenant = create_tenant(uow, name="Crash", slug="crash")
            return tenant.id, issue_api_key(uow, tenant_id=tenant.id, name="crash test").key

        result: tuple[str, str] = await runtime.db.write(create)
        return result
    finally:
        await runtime.db.stop()


async def _customers_and_creations(database_url: str, tenant_id: str) -> tuple[set[str], Counter[str]]:
    """Return the tenant's customer ids, and how many customer.created events each subject has."""
    runtime = Runtime.build(Settings(database_url=database_url), run_bus=False)
    await runtime.db.start()
    try:

        def query(session: Session) -> tuple[set[str], Counter[str]]:
            rows = set(session.scalars(select(Customer.id).where(Customer.tenant_id == tenant_id)))
            events = read_events(session, after=0, limit=1_000_000, tenant_id=tenant_id)
            return rows, Counter(e.subject for e in events if e.type == "customer.created")

        return await runtime.db.read(query)
    finally:
        await runtime.db.stop()


async def _post_until_killed(base_url: str, key: str, server: ServerProcess) -> dict[str, str]:
    """Create customers from many concurrent clients, SIGKILL the server mid-flight; return the 201s."""
    acknowledged: dict[str, str] = {}
    sent = 0
    stop_at = time.monotonic() + LOAD_S

    async def writer(client: httpx.AsyncClient, number: int) -> None:
        nonlocal sent
        n = 0
        while True:
            email = f"w{number}-{n}@crash.example"
            n += 1
            sent += 1
            try:
                response = await client.post("/v1/customers", json={"name": f"W{number} {n}", "email": email})
            except httpx.TransportError:
                return  # the server is gone; this request's outcome is unknown
            assert response.status_code == 201, response.text
            acknowledged[response.json()["id"]] = email

    async def killer() -> None:
        await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
        os.killpg(server.pid, signal.SIGKILL)

    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=WRITERS)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as client:
        await asyncio.gather(killer(), *(writer(client, number) for number in range(WRITERS)))
    assert sent > len(acknowledged) > 50, (sent, len(acknowledged))
    return acknowledged


async def _read_back(base_url: str, key: str, ids: list[str]) -> list[int]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        semaphore = asyncio.Semaphore(16)

        async def status(customer_id: str) -> int:
            async with semaphore:
                return (await client.get(f"/v1/customers/{customer_id}")).status_code

        codes = await asyncio.gather(*(status(customer_id) for customer_id in ids))
        after = await client.post("/v1/customers", json={"name": "After the crash"})
        return [*codes, after.status_code]


def _serve(env: dict[str, str]) -> tuple[ServerProcess, str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [CXSTACK, "serve", "--port", str(port)]
    return ServerProcess(command, ready_url=f"{base_url}/healthz", env=env, start_timeout_s=60), base_url


def test_a_killed_server_loses_no_acknowledged_write_and_leaves_no_event_without_its_row(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        "CXSTACK_DATABASE_URL": database_url,
        "CXSTACK_DATA_DIR": str(tmp_path / "data"),
        "CXSTACK_LOG_LEVEL": "warning",
    }
    subprocess.run(
        [CXSTACK, "db", "upgrade"], env={**os.environ, **env}, check=True, capture_output=True, timeout=120
    )
    tenant_id, key = asyncio.run(_tenant_key(database_url))

    server, base_url = _serve(env)
    with server:
        acknowledged = asyncio.run(_post_until_killed(base_url, key, server))

    customers, creations = asyncio.run(_customers_and_creations(database_url, tenant_id))
    # Nothing acknowledged is lost; every customer has its event and every event its customer, once.
    assert set(acknowledged) <= customers
    assert set(creations) == customers
    assert set(creations.values()) == {1}

    server, base_url = _serve(env)
    with server:
        codes = asyncio.run(_read_back(base_url, key, list(acknowledged)))
    assert codes == [200] * len(acknowledged) + [201]
