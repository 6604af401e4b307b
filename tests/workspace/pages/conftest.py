"""Fixtures of the workspace's pages: cxstack served on a free port of 127.0.0.1 (pages, API and
sockets), an agent with a routing profile, and a queue that needs the agent's skill; Chromium, and the
webchat widget's fixtures (its settings, a company's site to embed it in) for a customer's side."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.browser import chromium
from tests.channels.webchat.conftest import LiveServer, serving
from tests.channels.webchat.conftest import widget as widget
from tests.channels.webchat.test_webchat_browser import shop as shop
from tests.conftest import TenantKey
from tests.governance.staff.people import Person, make_person

from cxstack.config import Settings
from cxstack.runtime import Runtime
from cxstack.web.app import create_app

AGENT_PASSWORD = "ann password 1234"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Plain HTTP on 127.0.0.1: the session cookie cannot be Secure there.
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        handler_retry_base_seconds=0.01,
        timer_poll_seconds=0.05,
        auth={"cookie_secure": False, "lockout_attempts": 3},
    )


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def server(runtime: Runtime) -> AsyncIterator[LiveServer]:
    async with serving(create_app(runtime, manage_runtime=False)) as url:
        yield LiveServer(url)


@pytest.fixture
async def key_api(server: LiveServer, tenant: TenantKey) -> AsyncIterator[httpx.AsyncClient]:
    """An integration's client of the served app, with the tenant's key."""
    async with httpx.AsyncClient(base_url=server.url, headers=tenant.headers, trust_env=False) as client:
        yield client


@dataclass(frozen=True)
class AgentDesk:
    """An agent with a routing profile (skill ``billing`` 4, two webchats at a time), offline, and the
    queue of webchats that needs that skill."""

    agent: Person
    queue_id: str


@pytest.fixture
async def agent_desk(runtime: Runtime, tenant: TenantKey, key_api: httpx.AsyncClient) -> AgentDesk:
    agent = await make_person(runtime, tenant.tenant_id, "ann@acme.example", "agent", AGENT_PASSWORD)
    profile = await key_api.put(
        f"/v1/routing/agents/{agent.user_id}",
        json={"skills": {"billing": 4}, "capacity": {"webchat": 2}},
    )
    assert profile.status_code == 200, profile.text
    queue = await key_api.post(
        "/v1/routing/queues",
        json={
            "name": "Billing",
            "channels": ["webchat"],
            "skills": {"billing": 2},
            "offer_timeout_seconds": 300,
        },
    )
    assert queue.status_code == 201, queue.text
    return AgentDesk(agent, queue.json()["id"])


async def start_chat(key_api: httpx.AsyncClient, name: str) -> str:
    """A customer starts a webchat (as the widget would, through the API); return the conversation id."""
    customer = await key_api.post("/v1/customers", json={"name": name})
    assert customer.status_code == 201, customer.text
    conversation = await key_api.post(
        "/v1/conversations", json={"customer_id": customer.json()["id"], "channel": "webchat"}
    )
    assert conversation.status_code == 201, conversation.text
    conversation_id: str = conversation.json()["id"]
    return conversation_id
