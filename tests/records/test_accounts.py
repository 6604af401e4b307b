from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import TenantKey

from cxstack.backbone.models import EventRecord
from cxstack.runtime import Runtime


async def events_of(runtime: Runtime, *types: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The (type, subject, data) of every logged event of ``types``, in log order."""

    def query(session: Session) -> list[tuple[str, str, dict[str, Any]]]:
        rows = session.scalars(
            select(EventRecord).where(EventRecord.type.in_(types)).order_by(EventRecord.seq)
        )
        return [(row.type, row.subject, row.data) for row in rows]

    return await runtime.db.read(query)


async def test_account_is_created_with_normalised_domain_and_revenue_in_cents(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await api.post(
        "/v1/accounts",
        json={
            "name": "Initech",
            "domain": "  InITech.COM. ",
            "plan": "enterprise",
            "annual_revenue_cents": 125_000_000_00,
            "currency": "eur",
            "attributes": {"industry": "software"},
        },
    )
    assert response.status_code == 201, response.text
    account = response.json()
    assert account["id"].startswith("acc_")
    assert account["domain"] == "initech.com"
    assert account["annual_revenue_cents"] == 125_000_000_00
    assert account["currency"] == "EUR"
    fetched = await api.get(f"/v1/accounts/{account['id']}")
    assert fetched.json() == account
    assert await events_of(runtime, "account.created") == [
        (
            "account.created",
            account["id"],
            {
                "account_id": account["id"],
                "name": "Initech",
                "domain": "initech.com",
                "plan": "enterprise",
                "annual_revenue_cents": 125_000_000_00,
                "currency": "EUR",
            },
        )
    ]


async def test_a_domain_belongs_to_one_account_and_a_second_claim_writes_nothing(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    first = (await api.post("/v1/accounts", json={"name": "Initech", "domain": "initech.com"})).json()
    second = await api.post("/v1/accounts", json={"name": "Initech 2", "domain": "INITECH.com"})
    assert second.status_code == 409
    assert second.json()["field"] == "domain"
    assert second.json()["account_id"] == first["id"]
    listed = (await api.get("/v1/accounts")).json()["data"]
    assert [a["id"] for a in listed] == [first["id"]]
    assert len(await events_of(runtime, "account.created")) == 1


async def test_bad_account_input_is_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "A", "revenue": 10}, "revenue"),
        ({"name": "A", "domain": "not a domain"}, "domain"),
        ({"name": "A", "domain": "https://example.com/"}, "domain"),
        ({"name": "A", "annual_revenue_cents": -1}, "annual_revenue_cents"),
        ({"name": "A", "annual_revenue_cents": "12.50"}, "annual_revenue_cents"),
        ({"name": "A", "currency": "euro"}, "currency"),
        ({"name": ""}, "name"),
        ({}, "name"),
    ]
    for body, field in cases:
        response = await api.post("/v1/accounts", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, (body, response.json())
    assert (await api.get("/v1/accounts")).json()["data"] == []


async def test_account_list_filters_by_plan_domain_and_name_and_pages_with_a_cursor(
    api: httpx.AsyncClient,
) -> None:
    made = []
    for name, domain, plan in [
        ("Initech", "initech.com", "enterprise"),
        ("Initrode", "initrode.com", "starter"),
        ("Globex 50%", "globex.com", "enterprise"),
        ("Hooli", None, None),
    ]:
        response = await api.post("/v1/accounts", json={"name": name, "domain": domain, "plan": plan})
        made.append(response.json()["id"])

    async def ids(**params: Any) -> list[str]:
        response = await api.get("/v1/accounts", params=params)
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()["data"]]

    assert await ids(plan="enterprise") == [made[0], made[2]]
    assert await ids(domain="INITRODE.com") == [made[1]]
    assert await ids(q="init") == [made[0], made[1]]
    assert await ids(q="50%") == [made[2]]
    assert await ids(q="%") == [made[2]]
    first = (await api.get("/v1/accounts", params={"limit": 3})).json()
    assert [a["id"] for a in first["data"]] == made[:3]
    rest = (await api.get("/v1/accounts", params={"limit": 3, "cursor": first["next_cursor"]})).json()
    assert [a["id"] for a in rest["data"]] == made[3:]
    assert rest["next_cursor"] is None
    bad = await api.get("/v1/accounts", params={"cursor": "garbage!"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "cursor"


async def test_patch_changes_given_fields_merges_attributes_and_publishes_the_changes(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = (
        await api.post(
            "/v1/accounts",
            json={"name": "Initech", "plan": "starter", "attributes": {"a": 1, "b": 2}},
        )
    ).json()
    response = await api.patch(
        f"/v1/accounts/{account['id']}",
        json={"plan": None, "annual_revenue_cents": 5000, "attributes": {"b": None, "c": 3}},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["plan"] is None
    assert updated["annual_revenue_cents"] == 5000
    assert updated["attributes"] == {"a": 1, "c": 3}
    assert updated["updated_at"] >= account["updated_at"]
    assert updated["version"] == 2
    unchanged = await api.patch(f"/v1/accounts/{account['id']}", json={"annual_revenue_cents": 5000})
    assert unchanged.status_code == 200
    assert unchanged.json()["version"] == 2
    events = await events_of(runtime, "account.updated")
    assert events == [
        (
            "account.updated",
            account["id"],
            {
                "account_id": account["id"],
                "changes": {"plan": None, "annual_revenue_cents": 5000, "attributes": {"a": 1, "c": 3}},
                "version": 2,
            },
        )
    ]
    no_name = await api.patch(f"/v1/accounts/{account['id']}", json={"name": None})
    assert no_name.status_code == 422
    assert no_name.json()["field"] == "name"
    unknown = await api.patch(f"/v1/accounts/{account['id']}", json={"owner": "x"})
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "owner"


async def test_account_lists_its_customers(api: httpx.AsyncClient) -> None:
    account = (await api.post("/v1/accounts", json={"name": "Initech"})).json()
    other = (await api.post("/v1/accounts", json={"name": "Globex"})).json()
    peter = (await api.post("/v1/customers", json={"name": "Peter", "account_id": account["id"]})).json()
    await api.post("/v1/customers", json={"name": "Hank", "account_id": other["id"]})
    milton = (await api.post("/v1/customers", json={"name": "Milton"})).json()
    moved = await api.patch(f"/v1/customers/{milton['id']}", json={"account_id": account["id"]})
    assert moved.status_code == 200, moved.text
    listed = await api.get(f"/v1/accounts/{account['id']}/customers")
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["data"]] == [peter["id"], milton["id"]]
    paged = (await api.get(f"/v1/accounts/{account['id']}/customers", params={"limit": 1})).json()
    assert [c["id"] for c in paged["data"]] == [peter["id"]]
    assert paged["next_cursor"] is not None
    missing = await api.get("/v1/accounts/acc_01J00000000000000000000000/customers")
    assert missing.status_code == 404
    assert missing.json()["field"] == "account_id"


async def test_customer_with_an_unknown_account_is_refused_and_nothing_is_written(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await api.post(
        "/v1/customers",
        json={"name": "Ghost", "email": "ghost@example.com", "account_id": "acc_01J00000000000000000000000"},
    )
    assert response.status_code == 404
    assert response.json()["field"] == "account_id"
    assert "acc_01J00000000000000000000000" in response.json()["detail"]
    assert (await api.get("/v1/customers")).json()["data"] == []
    assert await events_of(runtime, "customer.created", "identity.linked") == []

    customer = (await api.post("/v1/customers", json={"name": "Peter"})).json()
    refused = await api.patch(
        f"/v1/customers/{customer['id']}", json={"name": "Peter G", "account_id": "acc_nope"}
    )
    assert refused.status_code == 404
    assert refused.json()["field"] == "account_id"
    after = (await api.get(f"/v1/customers/{customer['id']}")).json()
    assert after["name"] == "Peter"
    assert after["account_id"] is None
    assert await events_of(runtime, "customer.updated") == []


async def test_another_tenants_account_is_not_found_anywhere(
    api: httpx.AsyncClient, other_tenant: TenantKey
) -> None:
    theirs = (await api.post("/v1/accounts", json={"name": "Globex"}, headers=other_tenant.headers)).json()
    assert (await api.get(f"/v1/accounts/{theirs['id']}")).status_code == 404
    assert (await api.get(f"/v1/accounts/{theirs['id']}/customers")).status_code == 404
    assert (await api.patch(f"/v1/accounts/{theirs['id']}", json={"name": "Mine"})).status_code == 404
    as_account = await api.post("/v1/customers", json={"name": "X", "account_id": theirs["id"]})
    assert as_account.status_code == 404
    assert (await api.get("/v1/accounts")).json()["data"] == []
    # A domain is unique per tenant, not across tenants.
    same_domain = await api.post("/v1/accounts", json={"name": "Mine", "domain": "globex.com"})
    assert same_domain.status_code == 201
