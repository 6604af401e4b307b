from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import TenantKey

from cxstack.backbone.models import EventRecord
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.kit.errors import NotFound
from cxstack.records.cases import service as cases
from cxstack.records.customers.repository import CustomerRepository
from cxstack.runtime import Runtime

MISSING_CUSTOMER = "cus_01J00000000000000000000000"


async def events_of(runtime: Runtime, *types: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The (type, subject, data) of every logged event of ``types``, in log order."""

    def query(session: Session) -> list[tuple[str, str, dict[str, Any]]]:
        rows = session.scalars(
            select(EventRecord).where(EventRecord.type.in_(types)).order_by(EventRecord.seq)
        )
        return [(row.type, row.subject, row.data) for row in rows]

    return await runtime.db.read(query)


async def new_customer(api: httpx.AsyncClient, name: str = "Ada") -> str:
    response = await api.post("/v1/customers", json={"name": name})
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["id"]
    return customer_id


async def new_conversation(
    api: httpx.AsyncClient, customer_id: str, headers: dict[str, str] | None = None
) -> str:
    response = await api.post(
        "/v1/conversations", json={"customer_id": customer_id, "channel": "email"}, headers=headers
    )
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


async def new_case(api: httpx.AsyncClient, customer_id: str, **fields: Any) -> dict[str, Any]:
    response = await api.post("/v1/cases", json={"customer_id": customer_id, "subject": "Help", **fields})
    assert response.status_code == 201, response.text
    case: dict[str, Any] = response.json()
    return case


async def test_case_is_opened_for_a_customer_with_defaults_tags_and_events(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    customer_id = await new_customer(api)
    conversation_id = await new_conversation(api, customer_id)
    case = await new_case(
        api,
        customer_id,
        subject="Refund for order 1234",
        description="Charged twice",
        conversation_id=conversation_id,
        assignee="agent_7",
        due_at="2030-01-01T12:00:00+02:00",
        tags=["Billing", "refund", "billing"],
    )
    assert case["id"].startswith("cas_")
    assert case["status"] == "new"
    assert case["priority"] == "normal"
    assert case["assignee"] == "agent_7"
    assert case["conversation_id"] == conversation_id
    assert case["due_at"] == "2030-01-01T10:00:00Z"
    assert case["tags"] == ["billing", "refund"]
    assert case["solved_at"] is None and case["closed_at"] is None
    assert (await api.get(f"/v1/cases/{case['id']}")).json() == case
    events = await events_of(runtime, "case.created", "case.assigned", "tag.added")
    assert [(kind, subject) for kind, subject, _ in events] == [
        ("case.created", case["id"]),
        ("case.assigned", case["id"]),
        ("tag.added", case["id"]),
        ("tag.added", case["id"]),
    ]
    assert events[0][2]["customer_id"] == customer_id
    assert events[0][2]["conversation_id"] == conversation_id
    assert events[1][2] == {
        "case_id": case["id"],
        "customer_id": customer_id,
        "assignee": "agent_7",
        "previous_assignee": None,
    }


async def test_case_for_an_unknown_customer_is_404_and_leaves_no_case_and_no_event(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await api.post(
        "/v1/cases", json={"customer_id": MISSING_CUSTOMER, "subject": "Help", "tags": ["vip"]}
    )
    assert response.status_code == 404
    body = response.json()
    assert body["field"] == "customer_id"
    assert MISSING_CUSTOMER in body["detail"]
    assert (await api.get("/v1/cases")).json()["data"] == []
    assert (await api.get("/v1/tags")).json()["data"] == []
    assert await events_of(runtime, "case.created", "case.assigned", "tag.added") == []


async def test_case_with_an_unknown_or_another_tenants_conversation_is_404_and_writes_nothing(
    api: httpx.AsyncClient, runtime: Runtime, other_tenant: TenantKey
) -> None:
    customer_id = await new_customer(api)
    their_customer = (
        await api.post("/v1/customers", json={"name": "X"}, headers=other_tenant.headers)
    ).json()
    their_conversation = await new_conversation(api, their_customer["id"], headers=other_tenant.headers)
    for conversation_id in ("cnv_01J0000000000000000000000", their_conversation):
        response = await api.post(
            "/v1/cases",
            json={
                "customer_id": customer_id,
                "subject": "Help",
                "conversation_id": conversation_id,
                "assignee": "agent_7",
                "tags": ["vip"],
            },
        )
        assert response.status_code == 404, response.text
        assert response.json()["field"] == "conversation_id"
        assert conversation_id in response.json()["detail"]
    assert (await api.get("/v1/cases")).json()["data"] == []
    assert (await api.get("/v1/tags")).json()["data"] == []
    assert await events_of(runtime, "case.created", "case.assigned", "tag.added") == []


async def test_patching_a_case_to_a_conversation_requires_the_conversation_in_the_tenant(
    api: httpx.AsyncClient, runtime: Runtime, other_tenant: TenantKey
) -> None:
    customer_id = await new_customer(api)
    case = await new_case(api, customer_id)
    their_customer = (
        await api.post("/v1/customers", json={"name": "X"}, headers=other_tenant.headers)
    ).json()
    their_conversation = await new_conversation(api, their_customer["id"], headers=other_tenant.headers)
    for conversation_id in ("cnv_01J0000000000000000000000", their_conversation):
        response = await api.patch(
            f"/v1/cases/{case['id']}",
            json={"conversation_id": conversation_id, "priority": "urgent", "status": "open"},
        )
        assert response.status_code == 404, response.text
        assert response.json()["field"] == "conversation_id"
        assert conversation_id in response.json()["detail"]
    unchanged = (await api.get(f"/v1/cases/{case['id']}")).json()
    assert unchanged["conversation_id"] is None
    assert (unchanged["priority"], unchanged["status"]) == ("normal", "new")
    assert await events_of(runtime, "case.updated", "case.status_changed") == []
    ours = await new_conversation(api, customer_id)
    linked = await api.patch(f"/v1/cases/{case['id']}", json={"conversation_id": ours})
    assert linked.status_code == 200, linked.text
    assert linked.json()["conversation_id"] == ours
    assert [data["changes"] for _, _, data in await events_of(runtime, "case.updated")] == [
        {"conversation_id": ours}
    ]


async def test_a_case_links_only_a_conversation_of_its_own_customer(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    ada, grace = await new_customer(api, "Ada"), await new_customer(api, "Grace")
    graces_conversation = await new_conversation(api, grace)
    refused = await api.post(
        "/v1/cases", json={"customer_id": ada, "subject": "Refund", "conversation_id": graces_conversation}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "conversation_id" and grace in refused.json()["detail"]
    case = await new_case(api, ada)
    patched = await api.patch(f"/v1/cases/{case['id']}", json={"conversation_id": graces_conversation})
    assert patched.status_code == 422 and patched.json()["field"] == "conversation_id"
    assert (await api.get(f"/v1/cases/{case['id']}")).json()["conversation_id"] is None
    assert len(await events_of(runtime, "case.created")) == 1
    assert await events_of(runtime, "case.updated") == []


async def test_case_with_a_bad_tag_writes_nothing(api: httpx.AsyncClient, runtime: Runtime) -> None:
    customer_id = await new_customer(api)
    response = await api.post(
        "/v1/cases", json={"customer_id": customer_id, "subject": "Help", "tags": ["ok", "not ok!"]}
    )
    assert response.status_code == 422
    assert response.json()["field"] == "tags[1]"
    assert (await api.get("/v1/cases")).json()["data"] == []
    assert await events_of(runtime, "case.created", "tag.added") == []


async def test_bad_case_input_is_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    customer_id = await new_customer(api)
    base = {"customer_id": customer_id, "subject": "Help"}
    bad: list[tuple[dict[str, Any], str]] = [
        ({**base, "severity": "high"}, "severity"),
        ({**base, "priority": "critical"}, "priority"),
        ({**base, "status": "done"}, "status"),
        ({**base, "status": "closed"}, "status"),
        ({**base, "subject": ""}, "subject"),
        ({**base, "due_at": "2030-01-01T12:00:00"}, "due_at"),
        ({**base, "conversation_id": "has spaces"}, "conversation_id"),
        ({"subject": "Help"}, "customer_id"),
    ]
    for body, field in bad:
        response = await api.post("/v1/cases", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, (body, response.json())
    assert (await api.get("/v1/cases")).json()["data"] == []
    listed = await api.get("/v1/cases", params={"status": "done"})
    assert listed.status_code == 422
    assert listed.json()["field"] == "status"


async def test_status_moves_through_the_state_machine_and_publishes_each_move(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    case = await new_case(api, await new_customer(api))
    for status in ("open", "pending", "on_hold", "open", "solved"):
        response = await api.patch(f"/v1/cases/{case['id']}", json={"status": status})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
    solved = response.json()
    assert solved["solved_at"] is not None and solved["closed_at"] is None
    closed = (await api.patch(f"/v1/cases/{case['id']}", json={"status": "closed"})).json()
    assert closed["closed_at"] is not None
    assert closed["solved_at"] == solved["solved_at"]
    moves = await events_of(runtime, "case.status_changed")
    assert [(data["from_status"], data["to_status"]) for _, _, data in moves] == [
        ("new", "open"),
        ("open", "pending"),
        ("pending", "on_hold"),
        ("on_hold", "open"),
        ("open", "solved"),
        ("solved", "closed"),
    ]
    assert {subject for _, subject, _ in moves} == {case["id"]}


async def test_a_closed_case_reopens_only_through_reopen(api: httpx.AsyncClient, runtime: Runtime) -> None:
    case = await new_case(api, await new_customer(api), status="open")
    await api.patch(f"/v1/cases/{case['id']}", json={"status": "closed"})
    refused = await api.patch(f"/v1/cases/{case['id']}", json={"status": "open"})
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["from_status"] == "closed" and problem["to_status"] == "open"
    assert "from closed to open" in problem["detail"]
    assert "reopen" in problem["detail"]
    edit = await api.patch(f"/v1/cases/{case['id']}", json={"subject": "New subject"})
    assert edit.status_code == 409
    assert (await api.get(f"/v1/cases/{case['id']}")).json()["subject"] == "Help"
    same = await api.patch(f"/v1/cases/{case['id']}", json={"status": "closed"})
    assert same.status_code == 200

    reopened = await api.post(f"/v1/cases/{case['id']}/reopen")
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["status"] == "open"
    assert reopened.json()["closed_at"] is None and reopened.json()["solved_at"] is None
    again = await api.post(f"/v1/cases/{case['id']}/reopen")
    assert again.status_code == 409
    assert again.json()["from_status"] == "open"
    moves = await events_of(runtime, "case.status_changed")
    assert [(d["from_status"], d["to_status"]) for _, _, d in moves] == [
        ("open", "closed"),
        ("closed", "open"),
    ]


async def test_refused_moves_name_both_statuses_and_change_nothing(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    case = await new_case(api, await new_customer(api))
    await api.patch(f"/v1/cases/{case['id']}", json={"status": "solved"})
    for to_status in ("pending", "on_hold", "new"):
        response = await api.patch(
            f"/v1/cases/{case['id']}", json={"status": to_status, "subject": "Changed", "assignee": "a1"}
        )
        assert response.status_code == 409, response.text
        assert response.json()["field"] == "status"
        assert f"from solved to {to_status}" in response.json()["detail"]
    after = (await api.get(f"/v1/cases/{case['id']}")).json()
    assert (after["status"], after["subject"], after["assignee"]) == ("solved", "Help", None)
    assert await events_of(runtime, "case.updated", "case.assigned") == []
    # A solved case may go back to open when the customer comes back.
    back = await api.patch(f"/v1/cases/{case['id']}", json={"status": "open"})
    assert back.status_code == 200
    assert back.json()["solved_at"] is None


async def test_patch_publishes_updates_and_assignments_separately(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    case = await new_case(api, await new_customer(api))
    response = await api.patch(
        f"/v1/cases/{case['id']}",
        json={"priority": "urgent", "assignee": "agent_1", "due_at": "2030-01-01T00:00:00Z"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["priority"] == "urgent"
    await api.patch(f"/v1/cases/{case['id']}", json={"assignee": "agent_2"})
    unassigned = await api.patch(f"/v1/cases/{case['id']}", json={"assignee": None})
    assert unassigned.json()["assignee"] is None
    events = await events_of(runtime, "case.updated", "case.assigned")
    assert [(kind, data.get("changes"), data.get("assignee")) for kind, _, data in events] == [
        ("case.updated", {"priority": "urgent", "due_at": "2030-01-01T00:00:00Z"}, None),
        ("case.assigned", None, "agent_1"),
        ("case.assigned", None, "agent_2"),
        ("case.assigned", None, None),
    ]
    assert events[3][2]["previous_assignee"] == "agent_2"
    bad = await api.patch(f"/v1/cases/{case['id']}", json={"priority": "asap"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "priority"
    unknown = await api.patch(f"/v1/cases/{case['id']}", json={"customer_id": "cus_x"})
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "customer_id"


async def test_case_list_filters(api: httpx.AsyncClient) -> None:
    ada = await new_customer(api, "Ada")
    bob = await new_customer(api, "Bob")
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    late = await new_case(api, ada, priority="high", assignee="a1", due_at=past, tags=["vip"])
    late_solved = await new_case(api, ada, due_at=past)
    await api.patch(f"/v1/cases/{late_solved['id']}", json={"status": "solved"})
    on_time = await new_case(api, bob, status="pending", due_at=future, tags=["VIP", "billing"])
    undated = await new_case(api, bob, assignee="a1")

    async def ids(**params: Any) -> list[str]:
        response = await api.get("/v1/cases", params=params)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["data"]]

    assert await ids() == [late["id"], late_solved["id"], on_time["id"], undated["id"]]
    assert await ids(status="solved") == [late_solved["id"]]
    assert await ids(priority="high") == [late["id"]]
    assert await ids(customer_id=bob) == [on_time["id"], undated["id"]]
    assert await ids(assignee="a1") == [late["id"], undated["id"]]
    assert await ids(tag="vip") == [late["id"], on_time["id"]]
    assert await ids(tag="Billing") == [on_time["id"]]
    assert await ids(tag="nosuchtag") == []
    assert await ids(overdue="true") == [late["id"]]
    assert await ids(overdue="false") == [late_solved["id"], on_time["id"], undated["id"]]
    assert await ids(customer_id=ada, overdue="true", tag="vip") == [late["id"]]
    page = (await api.get("/v1/cases", params={"limit": 3})).json()
    assert len(page["data"]) == 3
    rest = (await api.get("/v1/cases", params={"limit": 3, "cursor": page["next_cursor"]})).json()
    assert [c["id"] for c in rest["data"]] == [undated["id"]]
    listed_late = (await api.get("/v1/cases", params={"tag": "vip"})).json()["data"][0]
    assert listed_late["tags"] == ["vip"]
    bad_tag = await api.get("/v1/cases", params={"tag": "no spaces"})
    assert bad_tag.status_code == 422
    assert bad_tag.json()["field"] == "tag"


async def test_another_tenants_cases_and_customers_are_not_found(
    api: httpx.AsyncClient, other_tenant: TenantKey
) -> None:
    theirs = other_tenant.headers
    their_customer = (await api.post("/v1/customers", json={"name": "X"}, headers=theirs)).json()
    their_case = (
        await api.post(
            "/v1/cases", json={"customer_id": their_customer["id"], "subject": "S"}, headers=theirs
        )
    ).json()
    refused = await api.post("/v1/cases", json={"customer_id": their_customer["id"], "subject": "S"})
    assert refused.status_code == 404
    assert refused.json()["field"] == "customer_id"
    assert (await api.get(f"/v1/cases/{their_case['id']}")).status_code == 404
    assert (await api.patch(f"/v1/cases/{their_case['id']}", json={"status": "open"})).status_code == 404
    assert (await api.post(f"/v1/cases/{their_case['id']}/reopen")).status_code == 404
    assert (await api.get("/v1/cases")).json()["data"] == []
    assert (await api.get(f"/v1/cases/{their_case['id']}", headers=theirs)).json()["status"] == "new"


async def test_move_customer_moves_all_or_the_listed_cases_and_publishes_each_move(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    ada = await new_customer(api, "Ada")
    bob = await new_customer(api, "Bob")
    first = await new_case(api, ada)
    second = await new_case(api, ada, status="open")
    await api.patch(f"/v1/cases/{second['id']}", json={"status": "closed"})
    bobs = await new_case(api, bob)

    def move(from_id: str, to_id: str, case_ids: list[str] | None = None) -> Any:
        return lambda uow: cases.move_customer(
            uow, tenant_id=tenant.tenant_id, from_customer_id=from_id, to_customer_id=to_id, case_ids=case_ids
        )

    moved = await runtime.db.write(move(ada, bob))
    assert moved == [first["id"], second["id"]]
    listed = (await api.get("/v1/cases", params={"customer_id": bob})).json()["data"]
    assert {c["id"] for c in listed} == {first["id"], second["id"], bobs["id"]}
    # Undo moves back exactly what moved; an id that is not the first customer's is left alone.
    back = await runtime.db.write(move(bob, ada, [second["id"], first["id"], "cas_unknown"]))
    assert sorted(back) == sorted([first["id"], second["id"]])
    assert (await api.get(f"/v1/cases/{bobs['id']}")).json()["customer_id"] == bob
    assert await runtime.db.write(move(ada, bob, [])) == []
    moves = await events_of(runtime, "case.updated")
    assert [(d["changes"], d["previous_customer_id"]) for _, _, d in moves] == [
        ({"customer_id": bob}, ada),
        ({"customer_id": bob}, ada),
        ({"customer_id": ada}, bob),
        ({"customer_id": ada}, bob),
    ]
    with pytest.raises(NotFound) as missing:
        await runtime.db.write(move(ada, MISSING_CUSTOMER))
    assert missing.value.field == "customer_id"
    assert (await api.get(f"/v1/cases/{first['id']}")).json()["customer_id"] == ada


async def test_move_customer_refuses_another_tenants_customer(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    ada = await new_customer(api, "Ada")
    case = await new_case(api, ada)
    theirs = (await api.post("/v1/customers", json={"name": "X"}, headers=other_tenant.headers)).json()

    def move(uow: UnitOfWork) -> list[str]:
        return cases.move_customer(
            uow, tenant_id=tenant.tenant_id, from_customer_id=ada, to_customer_id=theirs["id"]
        )

    with pytest.raises(NotFound):
        await runtime.db.write(move)
    assert (await api.get(f"/v1/cases/{case['id']}")).json()["customer_id"] == ada


async def test_a_case_is_not_opened_for_a_merged_customer(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    kept = await new_customer(api, "Ada")
    merged = await new_customer(api, "Ada L")

    def mark_merged(uow: UnitOfWork) -> None:
        CustomerRepository(uow.session, tenant.tenant_id).get(merged).merged_into_id = kept

    await runtime.db.write(mark_merged)
    response = await api.post("/v1/cases", json={"customer_id": merged, "subject": "Help"})
    assert response.status_code == 409
    assert response.json()["field"] == "customer_id"
    assert response.json()["merged_into_id"] == kept
    assert (await api.get("/v1/cases")).json()["data"] == []
