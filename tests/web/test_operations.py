"""``/v1/events`` and ``/v1/dead-letters``: a tenant sees its own events and failed deliveries only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from tests.conftest import TenantKey

from cxstack.backbone.envelope import Event
from cxstack.backbone.subscriptions import EventHandlers, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.records.customers.schemas import CustomerCreated


@dataclass
class Crm:
    down: bool = True
    synced: list[str] = field(default_factory=list)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Two attempts before a delivery is dead-lettered, so that tests reach one quickly."""
    return settings.model_copy(update={"handler_max_attempts": 2})


@pytest.fixture
def crm() -> Crm:
    return Crm()


@pytest.fixture
def subscriptions(crm: Crm) -> SubscriptionRegistry:
    def sync_customer(_uow: UnitOfWork, _data: CustomerCreated, event: Event) -> None:
        if crm.down:
            raise RuntimeError("crm is down")
        crm.synced.append(event.id)

    registry = SubscriptionRegistry()
    registry.add("interop.crm_sync", EventHandlers({CustomerCreated: sync_customer}))
    return registry


async def create_customer(client: httpx.AsyncClient, name: str, headers: dict[str, str] | None = None) -> str:
    response = await client.post("/v1/customers", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["id"]
    return customer_id


async def dead_letters_of(client: httpx.AsyncClient, count: int, **kwargs: Any) -> list[dict[str, Any]]:
    """Wait until the caller has ``count`` dead letters (the running bus retries with backoff)."""
    for _ in range(500):
        response = await client.get("/v1/dead-letters", **kwargs)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["data"]
        if len(items) >= count:
            return items
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} dead letters appeared")


async def test_events_are_the_tenants_own_newest_first_filtered_and_paged(
    api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    ada = await create_customer(api, "Ada")
    grace = await create_customer(api, "Grace")
    await create_customer(api, "Linus", headers=other_tenant.headers)

    response = await api.get("/v1/events")
    assert response.status_code == 200, response.text
    events = response.json()["data"]
    assert [(e["type"], e["subject"]) for e in events] == [
        ("customer.created", grace),
        ("customer.created", ada),
        ("api_key.issued", tenant.tenant_id),
        ("tenant.created", tenant.tenant_id),
    ]
    assert {e["tenant"] for e in events} == {tenant.tenant_id}
    assert events[0]["specversion"] == "1.0" and events[0]["data"]["name"] == "Grace"

    only_customers = (await api.get("/v1/events", params={"type": "customer.created"})).json()["data"]
    assert [e["subject"] for e in only_customers] == [grace, ada]
    both = await api.get("/v1/events", params=[("type", "customer.created"), ("type", "tenant.created")])
    assert len(both.json()["data"]) == 3
    about_ada = (await api.get("/v1/events", params={"subject": ada})).json()["data"]
    assert [e["data"]["name"] for e in about_ada] == ["Ada"]

    first = (await api.get("/v1/events", params={"limit": 3})).json()
    assert len(first["data"]) == 3 and first["next_cursor"]
    rest = (await api.get("/v1/events", params={"limit": 3, "cursor": first["next_cursor"]})).json()
    assert [e["type"] for e in rest["data"]] == ["tenant.created"]
    assert rest["next_cursor"] is None

    oldest = int(events[-1]["sequence"])
    after = (await api.get("/v1/events", params={"after": oldest, "limit": 2})).json()
    assert [e["type"] for e in after["data"]] == ["api_key.issued", "customer.created"]
    newer = (await api.get("/v1/events", params={"limit": 2, "cursor": after["next_cursor"]})).json()
    assert [e["subject"] for e in newer["data"]] == [grace]
    caught_up = (await api.get("/v1/events", params={"after": newer["data"][-1]["sequence"]})).json()
    assert caught_up == {"data": [], "next_cursor": None}


async def test_a_cursor_we_did_not_issue_is_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/events", params={"cursor": "bm9wZTox"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "cursor"


async def test_dead_letter_is_listed_shown_and_retried_until_it_is_delivered(
    api: httpx.AsyncClient, crm: Crm
) -> None:
    customer_id = await create_customer(api, "Ada")
    [dead] = await dead_letters_of(api, 1)
    assert dead["subscription"] == "interop.crm_sync"
    assert dead["subject"] == customer_id
    assert dead["error"] == "RuntimeError: crm is down"
    assert dead["attempts"] == 2

    detail = await api.get(f"/v1/dead-letters/{dead['id']}")
    assert detail.status_code == 200, detail.text
    assert detail.json()["event"]["id"] == dead["event_id"]
    assert detail.json()["event"]["data"]["name"] == "Ada"
    assert "Traceback (most recent call last)" in detail.json()["last_error"]

    failed = await api.post(f"/v1/dead-letters/{dead['id']}/retry")
    assert failed.status_code == 200, failed.text
    assert failed.json()["succeeded"] is False
    assert "RuntimeError: crm is down" in failed.json()["error"]
    [still] = (await api.get("/v1/dead-letters")).json()["data"]
    assert still["attempts"] == 3

    crm.down = False
    retried = await api.post(f"/v1/dead-letters/{dead['id']}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["succeeded"] is True and retried.json()["error"] is None
    assert crm.synced == [dead["event_id"]]
    assert (await api.get("/v1/dead-letters")).json()["data"] == []
    gone = await api.post(f"/v1/dead-letters/{dead['id']}/retry")
    assert gone.status_code == 404


async def test_another_tenants_dead_letter_is_not_found_and_not_listed(
    api: httpx.AsyncClient, other_tenant: TenantKey, crm: Crm
) -> None:
    await create_customer(api, "Ada")
    [dead] = await dead_letters_of(api, 1)
    as_other = {"headers": other_tenant.headers}
    assert (await api.get("/v1/dead-letters", **as_other)).json()["data"] == []
    assert (await api.get(f"/v1/dead-letters/{dead['id']}", **as_other)).status_code == 404
    crm.down = False
    refused = await api.post(f"/v1/dead-letters/{dead['id']}/retry", **as_other)
    assert refused.status_code == 404
    assert refused.headers["content-type"] == "application/problem+json"
    assert crm.synced == []
    assert len((await api.get("/v1/dead-letters")).json()["data"]) == 1


async def test_events_and_dead_letters_need_an_api_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/events")).status_code == 401
    assert (await client.get("/v1/dead-letters")).status_code == 401
    assert (await client.post("/v1/dead-letters/1/retry")).status_code == 401
