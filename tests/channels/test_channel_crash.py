"""A server killed while a provider posts to it loses no message it acknowledged, and the provider's retries
of everything after the restart store nothing twice.

Twilio retries a webhook that got no answer; cxstack's promise is that a 200 means stored, and that a
retried ``MessageSid`` is stored once. This test posts signed SMS webhooks from many clients, SIGKILLs the
server mid-flight, restarts it, retries every message (acknowledged or not, as a provider whose answers
were lost would) and reads the conversations back through the API.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from benchmarks.harness import ServerProcess, free_port

from cxstack.config import Settings
from cxstack.governance.tenants.service import create_tenant, issue_api_key
from cxstack.runtime import Runtime

CXSTACK = str(Path(sys.executable).with_name("cxstack"))
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "0123456789abcdef" * 2
NUMBER = "+14155550100"
SENDERS = 8
WRITERS = 16
LOAD_S = 2.0


def _signature(url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's X-Twilio-Signature: HMAC-SHA1 of the URL followed by the sorted fields, base64."""
    payload = url + "".join(key + value for key, value in sorted(params))
    digest = hmac.new(AUTH_TOKEN.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _message(number: int) -> tuple[str, list[tuple[str, str]]]:
    """The webhook form of message ``number``: its MessageSid and fields, from one of a few senders."""
    sid = f"SM{number:032x}"
    sender = f"+1415555{2000 + number % SENDERS:04d}"
    params = [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", sender),
        ("To", NUMBER),
        ("Body", f"message {number}"),
        ("NumMedia", "0"),
        ("ApiVersion", "2010-04-01"),
    ]
    return sid, params


async def _post(client: httpx.AsyncClient, base_url: str, number: int) -> int:
    _sid, params = _message(number)
    url = f"{base_url}/hooks/sms/twilio"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": _signature(url, params),
    }
    response = await client.post(url, content=urlencode(params), headers=headers)
    return response.status_code


async def _tenant_key(database_url: str) -> str:
    runtime = Runtime.build(Settings(database_url=database_url), run_bus=False)
    await runtime.db.start()
    try:

        def create(uow):  # type: ignore[no-untyped-def]
            tenant = create_tenant(uow, name="Crash", slug="crash")
            return issue_api_key(uow, tenant_id=tenant.id, name="crash test").key

        key: str = await runtime.db.write(create)
        return key
    finally:
        await runtime.db.stop()


async def _register_number(base_url: str, key: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        response = await api.post(
            "/v1/channels/sms/numbers",
            json={"number": NUMBER, "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
        )
        assert response.status_code == 201, response.text


async def _post_until_killed(base_url: str, server: ServerProcess) -> tuple[set[int], int]:
    """Post webhooks from many clients and SIGKILL the server mid-flight; return the acknowledged message
    numbers and how many were sent."""
    acknowledged: set[int] = set()
    next_number = 0
    stop_at = time.monotonic() + LOAD_S

    async def writer(client: httpx.AsyncClient) -> None:
        nonlocal next_number
        while True:
            number = next_number
            next_number += 1
            try:
                status = await _post(client, base_url, number)
            except httpx.TransportError:
                return  # the server is gone; this message's outcome is unknown
            assert status == 200, status
            acknowledged.add(number)

    async def killer() -> None:
        await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
        os.killpg(server.pid, signal.SIGKILL)

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=WRITERS)) as client:
        await asyncio.gather(killer(), *(writer(client) for _ in range(WRITERS)))
    return acknowledged, next_number


async def _retry_all(base_url: str, sent: int) -> list[int]:
    """Post every message again, as the provider retries the ones it saw no answer for; return the
    statuses."""
    async with httpx.AsyncClient(timeout=30) as client:
        semaphore = asyncio.Semaphore(WRITERS)

        async def retry(number: int) -> int:
            async with semaphore:
                return await _post(client, base_url, number)

        return list(await asyncio.gather(*(retry(number) for number in range(sent))))


async def _stored_bodies(base_url: str, key: str) -> Counter[str]:
    """How many times each body is stored in the tenant's conversations, read through the API."""
    bodies: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as api:
        for conversation in await _all(api, "/v1/conversations", {"limit": "200"}):
            messages = await _all(api, f"/v1/conversations/{conversation['id']}/messages", {"limit": "200"})
            bodies.update(message["body"] for message in messages)
    return bodies


async def _all(api: httpx.AsyncClient, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every item of a paginated listing."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        response = await api.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["data"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def _serve(env: dict[str, str]) -> tuple[ServerProcess, str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [CXSTACK, "serve", "--port", str(port)]
    return ServerProcess(command, ready_url=f"{base_url}/healthz", env=env, start_timeout_s=60), base_url


def test_a_killed_server_keeps_every_acknowledged_sms_and_stores_provider_retries_once(
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
    key = asyncio.run(_tenant_key(database_url))

    server, base_url = _serve(env)
    with server:
        asyncio.run(_register_number(base_url, key))
        acknowledged, sent = asyncio.run(_post_until_killed(base_url, server))
    assert sent > len(acknowledged) > 20, (sent, len(acknowledged))

    server, base_url = _serve(env)
    with server:
        survived = asyncio.run(_stored_bodies(base_url, key))
        statuses = asyncio.run(_retry_all(base_url, sent))
        stored = asyncio.run(_stored_bodies(base_url, key))

    # Every acknowledged message survived the kill, and nothing was half-written or stored twice.
    assert {f"message {number}" for number in acknowledged} <= set(survived)
    assert set(survived.values()) == {1}
    # The provider's retries store the messages that were not acknowledged, and none twice.
    assert statuses == [200] * sent
    assert stored == Counter(f"message {number}" for number in range(sent))
