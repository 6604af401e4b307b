from __future__ import annotations

import asyncio
import threading
from contextlib import nullcontext

import httpx
from tests.conftest import TenantKey
from tests.records.query_plans import captured

from cxstack.backbone.log import read_events
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.records.customers.schemas import CustomerCreate
from cxstack.records.customers.service import CustomerCreation, create_customers
from cxstack.runtime import Runtime


async def test_customer_created_with_identities_is_found_by_phone_in_any_format(
    api: httpx.AsyncClient,
) -> None:
    created = await api.post(
        "/v1/customers",
        json={"name": "Ada Lovelace", "email": "Ada@Example.COM", "phone": "(415) 555-2671"},
    )
    assert created.status_code == 201, created.text
    customer = created.json()
    assert customer["email"] == "ada@example.com"
    assert customer["phone"] == "+14155552671"
    assert {(i["kind"], i["value"]) for i in customer["identities"]} == {
        ("email", "ada@example.com"),
        ("phone", "+14155552671"),
    }
    for phone in ("+1 415-555-2671", "415.555.2671", "+14155552671"):
        found = await api.get("/v1/customers/lookup", params={"kind": "phone", "value": phone})
        assert found.status_code == 200, found.text
        assert found.json()["id"] == customer["id"]


async def test_invalid_email_is_refused_naming_the_field_and_nothing_is_written(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post("/v1/customers", json={"name": "X", "email": "not-an-email"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "email"
    listed = await api.get("/v1/customers")
    assert listed.json()["data"] == []


async def test_another_tenants_customer_is_not_found(api: httpx.AsyncClient, other_tenant: TenantKey) -> None:
    created = (await api.post("/v1/customers", json={"name": "Ada"})).json()
    response = await api.get(f"/v1/customers/{created['id']}", headers=other_tenant.headers)
    assert response.status_code == 404


async def test_a_cursor_that_was_not_issued_is_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    for cursor in ("!!not-base64!!", "bm90aGluZw", "%%%"):
        response = await api.get("/v1/customers", params={"cursor": cursor})
        assert response.status_code == 422, (cursor, response.text)
        assert response.json()["field"] == "cursor"


async def queued_behind_the_writer(runtime: Runtime, jobs: int) -> None:
    """Wait until ``jobs`` writes wait for the embedded driver's writer (PostgreSQL has none)."""
    writer = runtime.db._writer
    for _ in range(500):
        if writer is None or writer._jobs.qsize() >= jobs:
            return
        await asyncio.sleep(0.01)


async def test_customers_created_together_are_written_together_and_each_caller_gets_its_own_answer(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Creates that reach the writer together are one batch; one caller's bad input or taken identity
    fails that caller alone, and a batch never gives one identity to two customers."""
    taken = (await api.post("/v1/customers", json={"name": "Earlier", "email": "earlier@example.com"})).json()
    sqlite = runtime.db.driver == "sqlite"
    gate = threading.Event()
    # On SQLite the writer is held until every create waits for it (PostgreSQL groups what arrives while
    # a group's transaction runs).
    busy = asyncio.ensure_future(runtime.db.write(lambda uow: gate.wait(10)) if sqlite else asyncio.sleep(0))
    bodies: list[dict[str, object]] = [
        {"name": "Ada", "email": "ada@example.com", "phone": "(415) 555-2671"},
        {"name": "Bad", "email": "not-an-email"},
        {"name": "Taken", "email": "EARLIER@example.com"},
        {"name": "Twice", "phone": "+1 415 555 2671"},  # Ada's number, created in the same batch
        {"name": "No account", "account_id": "acc_missing"},
        {"name": "Grace", "identities": [{"kind": "external", "system": "crm", "value": "42"}]},
        {"name": "Anonymous"},
    ]
    posted = asyncio.gather(*(api.post("/v1/customers", json=body) for body in bodies))
    await queued_behind_the_writer(runtime, len(bodies))
    gate.set()  # the writer goes on, and finds the creates waiting together
    answers = await posted
    await busy
    assert [answer.status_code for answer in answers] == [201, 422, 409, 409, 404, 201, 201]
    assert answers[1].json()["field"] == "email"
    assert (answers[2].json()["field"], answers[2].json()["customer_id"]) == ("email", taken["id"])
    ada = answers[0].json()
    assert (answers[3].json()["field"], answers[3].json()["customer_id"]) == ("phone", ada["id"])
    assert answers[4].json()["field"] == "account_id"
    names = sorted(c["name"] for c in (await api.get("/v1/customers")).json()["data"])
    assert names == ["Ada", "Anonymous", "Earlier", "Grace"]
    found = await api.get("/v1/customers/lookup", params={"kind": "phone", "value": "415.555.2671"})
    assert found.json()["id"] == ada["id"]
    grace = answers[5].json()
    assert [(i["kind"], i["system"], i["value"]) for i in grace["identities"]] == [("external", "crm", "42")]
    events = await runtime.db.read(lambda session: list(read_events(session, after=0, limit=1000)))
    created = [event.subject for event in events if event.type == "customer.created"]
    assert sorted(created) == sorted([taken["id"], ada["id"], grace["id"], answers[6].json()["id"]])
    linked = [event.data["value"] for event in events if event.type == "identity.linked"]
    assert sorted(linked) == ["+14155552671", "42", "ada@example.com", "earlier@example.com"]


async def test_a_batch_of_creates_inserts_its_customers_in_one_statement(
    runtime: Runtime, tenant: TenantKey
) -> None:
    def create(uow: UnitOfWork) -> list[object]:
        requests = [
            (
                uow.context,
                CustomerCreation(tenant.tenant_id, CustomerCreate(name=f"C{n}", email=f"c{n}@x.org")),
            )
            for n in range(5)
        ] + [
            (uow.context, CustomerCreation(tenant.tenant_id, CustomerCreate(name="Again", email="c1@x.org")))
        ]
        return list(create_customers(uow, requests))

    engine = runtime.db._engine  # the embedded driver's statements show the batch
    watching = captured(engine, kinds=("INSERT INTO customers",)) if engine is not None else nullcontext([])
    with watching as inserts:
        outcomes = await runtime.db.write(create)
    assert [type(outcome).__name__ for outcome in outcomes] == ["CustomerOut"] * 5 + ["Conflict"]
    if engine is not None:
        assert len(inserts) == 1
