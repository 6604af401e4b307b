from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import TenantKey

from cxstack.backbone.models import EventRecord
from cxstack.runtime import Runtime

MISSING_CONVERSATION = "cnv_01J0000000000000000000000"


async def events_of(runtime: Runtime, *types: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The (type, subject, data) of every logged event of ``types``, in log order."""

    def query(session: Session) -> list[tuple[str, str, dict[str, Any]]]:
        rows = session.scalars(
            select(EventRecord).where(EventRecord.type.in_(types)).order_by(EventRecord.seq)
        )
        return [(row.type, row.subject, row.data) for row in rows]

    return await runtime.db.read(query)


async def new_customer(api: httpx.AsyncClient, name: str = "Ada", **fields: Any) -> str:
    response = await api.post("/v1/customers", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["id"]
    return customer_id


async def new_conversation(
    api: httpx.AsyncClient, customer_id: str, headers: dict[str, str] | None = None
) -> str:
    response = await api.post(
        "/v1/conversations", json={"customer_id": customer_id, "channel": "sms"}, headers=headers
    )
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


def names(body: dict[str, Any]) -> list[str]:
    return [tag["name"] for tag in body["tags"]]


async def test_putting_a_tag_creates_it_once_and_is_idempotent(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    customer_id = await new_customer(api)
    first = await api.put(f"/v1/customers/{customer_id}/tags/VIP")
    assert first.status_code == 200, first.text
    assert first.json()["target_type"] == "customer"
    assert names(first.json()) == ["vip"]
    again = await api.put(f"/v1/customers/{customer_id}/tags/vip")
    assert again.status_code == 200
    assert names(again.json()) == ["vip"]
    await api.put(f"/v1/customers/{customer_id}/tags/billing/refund")
    listed = await api.get(f"/v1/customers/{customer_id}/tags")
    assert names(listed.json()) == ["billing/refund", "vip"]
    tags = (await api.get("/v1/tags")).json()["data"]
    assert [t["name"] for t in tags] == ["vip", "billing/refund"]
    assert all(t["id"].startswith("tag_") for t in tags)
    events = await events_of(runtime, "tag.added")
    assert [(subject, data["tag"], data["target_type"]) for _, subject, data in events] == [
        (customer_id, "vip", "customer"),
        (customer_id, "billing/refund", "customer"),
    ]


async def test_removing_a_tag_publishes_once_and_a_second_removal_changes_nothing(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    customer_id = await new_customer(api)
    await api.put(f"/v1/customers/{customer_id}/tags/vip")
    await api.put(f"/v1/customers/{customer_id}/tags/tier:gold")
    removed = await api.delete(f"/v1/customers/{customer_id}/tags/VIP")
    assert removed.status_code == 204
    assert names((await api.get(f"/v1/customers/{customer_id}/tags")).json()) == ["tier:gold"]
    assert (await api.delete(f"/v1/customers/{customer_id}/tags/vip")).status_code == 204
    assert (await api.delete(f"/v1/customers/{customer_id}/tags/never-used")).status_code == 204
    events = await events_of(runtime, "tag.removed")
    assert [(subject, data["tag"]) for _, subject, data in events] == [(customer_id, "vip")]
    # The tag itself stays in the tenant's list for reuse.
    assert {t["name"] for t in (await api.get("/v1/tags")).json()["data"]} == {"vip", "tier:gold"}


async def test_cases_and_conversations_take_tags(api: httpx.AsyncClient, runtime: Runtime) -> None:
    customer_id = await new_customer(api)
    case = (await api.post("/v1/cases", json={"customer_id": customer_id, "subject": "Help"})).json()
    tagged_case = await api.put(f"/v1/cases/{case['id']}/tags/urgent-billing")
    assert tagged_case.status_code == 200, tagged_case.text
    assert (await api.get(f"/v1/cases/{case['id']}")).json()["tags"] == ["urgent-billing"]
    conversation_id = await new_conversation(api, customer_id)
    tagged_conversation = await api.put(f"/v1/conversations/{conversation_id}/tags/angry")
    assert tagged_conversation.status_code == 200, tagged_conversation.text
    assert tagged_conversation.json()["target_type"] == "conversation"
    assert names((await api.get(f"/v1/conversations/{conversation_id}/tags")).json()) == ["angry"]
    # The same tag on different kinds of record is different taggings.
    assert names((await api.get(f"/v1/customers/{customer_id}/tags")).json()) == []
    events = await events_of(runtime, "tag.added")
    assert [(subject, data["target_type"]) for _, subject, data in events] == [
        (case["id"], "case"),
        (conversation_id, "conversation"),
    ]


async def test_bad_tag_names_are_refused_and_write_nothing(api: httpx.AsyncClient, runtime: Runtime) -> None:
    customer_id = await new_customer(api)
    for bad in ("has space", "semi;colon", "x" * 65, "émoji", "a.b"):
        response = await api.put(f"/v1/customers/{customer_id}/tags/{bad}")
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["field"] == "tag"
    assert (await api.put(f"/v1/customers/{customer_id}/tags/{'x' * 64}")).status_code == 200
    assert [t["name"] for t in (await api.get("/v1/tags")).json()["data"]] == ["x" * 64]
    assert len(await events_of(runtime, "tag.added")) == 1


async def test_unknown_or_another_tenants_targets_are_404_and_create_no_tag(
    api: httpx.AsyncClient, runtime: Runtime, other_tenant: TenantKey
) -> None:
    theirs = (await api.post("/v1/customers", json={"name": "X"}, headers=other_tenant.headers)).json()
    for path, field in [
        ("/v1/customers/cus_01J00000000000000000000000/tags/vip", "customer_id"),
        (f"/v1/customers/{theirs['id']}/tags/vip", "customer_id"),
        ("/v1/cases/cas_01J00000000000000000000000/tags/vip", "case_id"),
        (f"/v1/conversations/{MISSING_CONVERSATION}/tags/vip", "conversation_id"),
        ("/v1/conversations/not%20an%20id/tags/vip", "conversation_id"),
    ]:
        for method in ("PUT", "DELETE"):
            response = await api.request(method, path)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["field"] == field
    assert (await api.get(f"/v1/customers/{theirs['id']}/tags")).status_code == 404
    assert (await api.get("/v1/tags")).json()["data"] == []
    assert await events_of(runtime, "tag.added", "tag.removed") == []


async def test_tagging_another_tenants_conversation_is_404_and_writes_nothing(
    api: httpx.AsyncClient, runtime: Runtime, other_tenant: TenantKey
) -> None:
    their_customer = (
        await api.post("/v1/customers", json={"name": "X"}, headers=other_tenant.headers)
    ).json()
    theirs = await new_conversation(api, their_customer["id"], headers=other_tenant.headers)
    for method in ("PUT", "DELETE"):
        response = await api.request(method, f"/v1/conversations/{theirs}/tags/vip")
        assert response.status_code == 404, (method, response.text)
        assert response.json()["field"] == "conversation_id"
        assert theirs in response.json()["detail"]
    listed = await api.get(f"/v1/conversations/{theirs}/tags")
    assert listed.status_code == 404
    assert listed.json()["field"] == "conversation_id"
    their_view = await api.get(f"/v1/conversations/{theirs}/tags", headers=other_tenant.headers)
    assert their_view.status_code == 200, their_view.text
    assert names(their_view.json()) == []
    assert (await api.get("/v1/tags")).json()["data"] == []
    assert (await api.get("/v1/tags", headers=other_tenant.headers)).json()["data"] == []
    assert await events_of(runtime, "tag.added", "tag.removed") == []


async def test_customer_list_filters_by_tag_within_the_tenant(
    api: httpx.AsyncClient, other_tenant: TenantKey
) -> None:
    ada = await new_customer(api, "Ada")
    bob = await new_customer(api, "Bob")
    await new_customer(api, "Cy")
    await api.put(f"/v1/customers/{ada}/tags/vip")
    await api.put(f"/v1/customers/{bob}/tags/vip")
    await api.put(f"/v1/customers/{bob}/tags/churn-risk")
    case = (await api.post("/v1/cases", json={"customer_id": ada, "subject": "Help"})).json()
    await api.put(f"/v1/cases/{case['id']}/tags/churn-risk")
    theirs = (await api.post("/v1/customers", json={"name": "X"}, headers=other_tenant.headers)).json()
    await api.put(f"/v1/customers/{theirs['id']}/tags/vip", headers=other_tenant.headers)

    async def ids(**params: Any) -> list[str]:
        response = await api.get("/v1/customers", params=params)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["data"]]

    assert await ids(tag="VIP") == [ada, bob]
    assert await ids(tag="churn-risk") == [bob]
    assert await ids(tag="vip", q="bo") == [bob]
    assert await ids(tag="unused") == []
    first = (await api.get("/v1/customers", params={"tag": "vip", "limit": 1})).json()
    rest = (await api.get("/v1/customers", params={"tag": "vip", "cursor": first["next_cursor"]})).json()
    assert [c["id"] for c in first["data"] + rest["data"]] == [ada, bob]
    bad = await api.get("/v1/customers", params={"tag": "not a tag"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "tag"
    theirs_listed = await api.get("/v1/customers", params={"tag": "vip"}, headers=other_tenant.headers)
    assert [c["id"] for c in theirs_listed.json()["data"]] == [theirs["id"]]


async def test_tag_colour_is_set_on_the_tag_and_shown_wherever_it_is_used(api: httpx.AsyncClient) -> None:
    customer_id = await new_customer(api)
    made = await api.put("/v1/tags/VIP", json={"colour": "#FFAA00"})
    assert made.status_code == 200, made.text
    assert made.json()["name"] == "vip"
    assert made.json()["colour"] == "#ffaa00"
    tagged = (await api.put(f"/v1/customers/{customer_id}/tags/vip")).json()
    assert tagged["tags"][0]["colour"] == "#ffaa00"
    bad = await api.put("/v1/tags/vip", json={"colour": "orange"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "colour"
    cleared = await api.put("/v1/tags/vip", json={"colour": None})
    assert cleared.json()["colour"] is None
    assert len((await api.get("/v1/tags")).json()["data"]) == 1
