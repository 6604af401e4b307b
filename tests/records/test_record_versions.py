"""Two people editing one customer (or account) get a conflict, not a silent overwrite: reads answer the
record's version as an ETag, and a PATCH with a stale If-Match is refused with 412, nothing written."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from cxstack.backbone.log import read_events
from cxstack.runtime import Runtime

PROBLEM = "application/problem+json"


async def test_second_editor_with_a_stale_etag_gets_412_and_the_first_change_stays(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    created = await api.post("/v1/customers", json={"name": "Ada Lovelace"})
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1"'
    customer_id = created.json()["id"]
    first_read = await api.get(f"/v1/customers/{customer_id}")
    second_read = await api.get(f"/v1/customers/{customer_id}")
    assert first_read.json()["version"] == 1
    assert first_read.headers["etag"] == second_read.headers["etag"] == '"1"'

    first = await api.patch(
        f"/v1/customers/{customer_id}",
        json={"name": "Ada King"},
        headers={"If-Match": first_read.headers["etag"]},
    )
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 2
    assert first.headers["etag"] == '"2"'

    second = await api.patch(
        f"/v1/customers/{customer_id}",
        json={"name": "Augusta Ada"},
        headers={"If-Match": second_read.headers["etag"]},
    )
    assert second.status_code == 412, second.text
    assert second.headers["content-type"] == PROBLEM
    problem = second.json()
    assert problem["type"] == "https://cxstack.org/problems/edit_conflict"
    assert problem["title"] == "Edit conflict"
    assert problem["detail"] == (
        "The customer was changed by someone else since you read it (version 2, you had 1): "
        "read it again and reapply your change"
    )
    assert problem["current_version"] == 2

    stored = await api.get(f"/v1/customers/{customer_id}")
    assert stored.json()["name"] == "Ada King"
    assert stored.json()["version"] == 2
    assert stored.headers["etag"] == '"2"'
    events = await runtime.db.read(
        lambda session: read_events(session, after=0, limit=100, types=["customer.updated"])
    )
    assert [(event.subject, event.data["changes"], event.data["version"]) for event in events] == [
        (customer_id, {"name": "Ada King"}, 2)
    ]


async def test_concurrent_edits_of_one_version_let_exactly_one_through(api: httpx.AsyncClient) -> None:
    customer_id = (await api.post("/v1/customers", json={"name": "Grace"})).json()["id"]
    answers = await asyncio.gather(
        *(
            api.patch(
                f"/v1/customers/{customer_id}", json={"name": f"Grace {n}"}, headers={"If-Match": '"1"'}
            )
            for n in range(4)
        )
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 412, 412, 412], [answer.text for answer in answers]
    (winner,) = [answer.json()["name"] for answer in answers if answer.status_code == 200]
    stored = (await api.get(f"/v1/customers/{customer_id}")).json()
    assert (stored["name"], stored["version"]) == (winner, 2)


async def test_a_star_or_a_list_holding_the_current_etag_matches_and_no_if_match_is_not_checked(
    api: httpx.AsyncClient,
) -> None:
    customer_id = (await api.post("/v1/customers", json={"name": "Ada"})).json()["id"]
    star = await api.patch(f"/v1/customers/{customer_id}", json={"name": "Ada 2"}, headers={"If-Match": "*"})
    assert star.status_code == 200, star.text
    assert star.headers["etag"] == '"2"'
    listed = await api.patch(
        f"/v1/customers/{customer_id}", json={"name": "Ada 3"}, headers={"If-Match": '"7", "2"'}
    )
    assert listed.status_code == 200, listed.text
    unchecked = await api.patch(f"/v1/customers/{customer_id}", json={"name": "Ada 4"})
    assert unchecked.status_code == 200, unchecked.text
    assert unchecked.headers["etag"] == '"4"'
    # A change that changes nothing leaves the version as it is.
    same = await api.patch(
        f"/v1/customers/{customer_id}", json={"name": "Ada 4"}, headers={"If-Match": '"4"'}
    )
    assert same.json()["version"] == 4


@pytest.mark.parametrize("value", ["1", 'W/"1"', '"abc"', '"1', '"1" "2"', "", '"99999999999999999999"'])
async def test_an_if_match_that_is_not_an_etag_is_refused_naming_the_header(
    api: httpx.AsyncClient, value: str
) -> None:
    customer_id = (await api.post("/v1/customers", json={"name": "Ada"})).json()["id"]
    response = await api.patch(
        f"/v1/customers/{customer_id}", json={"name": "Eve"}, headers={"If-Match": value}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == "If-Match"
    assert "If-Match" in response.json()["detail"]
    stored = (await api.get(f"/v1/customers/{customer_id}")).json()
    assert (stored["name"], stored["version"]) == ("Ada", 1)


async def test_linking_an_identity_and_merging_change_the_customers_version(api: httpx.AsyncClient) -> None:
    ada = (await api.post("/v1/customers", json={"name": "Ada"})).json()
    other = (await api.post("/v1/customers", json={"name": "Ada again"})).json()
    linked = await api.post(
        f"/v1/customers/{ada['id']}/identities", json={"kind": "email", "value": "ada@example.com"}
    )
    assert linked.status_code == 201, linked.text
    after_link = await api.get(f"/v1/customers/{ada['id']}")
    assert after_link.headers["etag"] == '"2"'
    stale = await api.patch(f"/v1/customers/{ada['id']}", json={"name": "Ada L"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    merged = await api.post(f"/v1/customers/{ada['id']}/merge", json={"source_customer_id": other["id"]})
    assert merged.status_code == 201, merged.text
    after_merge = await api.get(f"/v1/customers/{ada['id']}")
    assert after_merge.json()["version"] == 3
    assert (await api.get(f"/v1/customers/{other['id']}")).json()["version"] == 2


async def test_second_editor_of_an_account_with_a_stale_etag_gets_412(api: httpx.AsyncClient) -> None:
    created = await api.post("/v1/accounts", json={"name": "Northwind"})
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1"'
    account_id = created.json()["id"]
    read = await api.get(f"/v1/accounts/{account_id}")
    assert read.headers["etag"] == '"1"'
    first = await api.patch(
        f"/v1/accounts/{account_id}", json={"plan": "growth"}, headers={"If-Match": '"1"'}
    )
    assert first.status_code == 200, first.text
    assert first.headers["etag"] == '"2"'
    second = await api.patch(
        f"/v1/accounts/{account_id}", json={"plan": "starter"}, headers={"If-Match": '"1"'}
    )
    assert second.status_code == 412, second.text
    assert second.json()["detail"].startswith(
        "The account was changed by someone else since you read it (version 2, you had 1)"
    )
    stored = (await api.get(f"/v1/accounts/{account_id}")).json()
    assert (stored["plan"], stored["version"]) == ("growth", 2)
