from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import TenantKey

from cxstack.backbone.models import EventRecord
from cxstack.kit.errors import NotFound, ValidationFailed
from cxstack.records.notes import service as notes
from cxstack.runtime import Runtime

MISSING_CUSTOMER = "cus_01J00000000000000000000000"
MISSING_CONVERSATION = "cnv_01J0000000000000000000000"


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
        "/v1/conversations", json={"customer_id": customer_id, "channel": "webchat"}, headers=headers
    )
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


async def add_note(
    api: httpx.AsyncClient, target_type: str, target_id: str, body: str = "Called back"
) -> Any:
    response = await api.post(
        "/v1/notes", json={"target_type": target_type, "target_id": target_id, "body": body}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def notes_of(api: httpx.AsyncClient, target_type: str, target_id: str, **params: Any) -> Any:
    response = await api.get(
        "/v1/notes", params={"target_type": target_type, "target_id": target_id, **params}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_notes_attach_to_customers_cases_and_conversations(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    customer_id = await new_customer(api)
    case = (await api.post("/v1/cases", json={"customer_id": customer_id, "subject": "Help"})).json()
    conversation_id = await new_conversation(api, customer_id)
    on_customer = await add_note(api, "customer", customer_id, "Prefers email")
    on_case = await add_note(api, "case", case["id"], "Escalated to billing")
    on_conversation = await add_note(api, "conversation", conversation_id, "Rude")
    assert on_customer["id"].startswith("nte_")
    assert on_customer["author"].startswith("api_key:")
    written = await api.post(
        "/v1/notes",
        json={"target_type": "customer", "target_id": customer_id, "body": "VIP", "author": "agent_7"},
    )
    assert written.json()["author"] == "agent_7"
    listed = await notes_of(api, "customer", customer_id)
    assert [n["body"] for n in listed["data"]] == ["Prefers email", "VIP"]
    assert [n["id"] for n in (await notes_of(api, "case", case["id"]))["data"]] == [on_case["id"]]
    conversation_notes = await notes_of(api, "conversation", conversation_id)
    assert [n["id"] for n in conversation_notes["data"]] == [on_conversation["id"]]
    events = await events_of(runtime, "note.added")
    assert [(subject, data["target_type"]) for _, subject, data in events] == [
        (customer_id, "customer"),
        (case["id"], "case"),
        (conversation_id, "conversation"),
        (customer_id, "customer"),
    ]
    assert events[0][2]["body"] == "Prefers email"


async def test_notes_page_with_a_cursor(api: httpx.AsyncClient) -> None:
    customer_id = await new_customer(api)
    made = [(await add_note(api, "customer", customer_id, f"note {i}"))["id"] for i in range(5)]
    first = await notes_of(api, "customer", customer_id, limit=2)
    second = await notes_of(api, "customer", customer_id, limit=2, cursor=first["next_cursor"])
    third = await notes_of(api, "customer", customer_id, limit=2, cursor=second["next_cursor"])
    assert [n["id"] for page in (first, second, third) for n in page["data"]] == made
    assert third["next_cursor"] is None


async def test_note_on_an_unknown_or_another_tenants_record_is_404_and_writes_nothing(
    api: httpx.AsyncClient, runtime: Runtime, other_tenant: TenantKey
) -> None:
    theirs = (await api.post("/v1/customers", json={"name": "X"}, headers=other_tenant.headers)).json()
    for target_type, target_id in [
        ("customer", MISSING_CUSTOMER),
        ("customer", theirs["id"]),
        ("case", "cas_01J00000000000000000000000"),
        ("conversation", MISSING_CONVERSATION),
        ("conversation", "not a conversation"),
    ]:
        response = await api.post(
            "/v1/notes", json={"target_type": target_type, "target_id": target_id, "body": "x"}
        )
        assert response.status_code == 404, response.text
        assert response.json()["field"] == "target_id"
        assert target_id in response.json()["detail"]
    listed = await api.get("/v1/notes", params={"target_type": "customer", "target_id": theirs["id"]})
    assert listed.status_code == 404
    assert await events_of(runtime, "note.added") == []


async def test_a_note_on_another_tenants_conversation_is_404_and_writes_nothing(
    api: httpx.AsyncClient, runtime: Runtime, other_tenant: TenantKey
) -> None:
    their_customer = (
        await api.post("/v1/customers", json={"name": "X"}, headers=other_tenant.headers)
    ).json()
    theirs = await new_conversation(api, their_customer["id"], headers=other_tenant.headers)
    response = await api.post(
        "/v1/notes", json={"target_type": "conversation", "target_id": theirs, "body": "peek"}
    )
    assert response.status_code == 404, response.text
    assert response.json()["field"] == "target_id"
    assert theirs in response.json()["detail"]
    listed = await api.get("/v1/notes", params={"target_type": "conversation", "target_id": theirs})
    assert listed.status_code == 404
    assert listed.json()["field"] == "target_id"
    their_notes = await api.get(
        "/v1/notes",
        params={"target_type": "conversation", "target_id": theirs},
        headers=other_tenant.headers,
    )
    assert their_notes.status_code == 200, their_notes.text
    assert their_notes.json()["data"] == []
    assert await events_of(runtime, "note.added") == []


async def test_bad_note_input_is_refused_naming_the_field(api: httpx.AsyncClient, runtime: Runtime) -> None:
    customer_id = await new_customer(api)
    base = {"target_type": "customer", "target_id": customer_id, "body": "x"}
    bad: list[tuple[dict[str, Any], str]] = [
        ({**base, "target_type": "account"}, "target_type"),
        ({**base, "pinned": True}, "pinned"),
        ({**base, "body": ""}, "body"),
        ({**base, "body": "x" * (16 * 1024 + 1)}, "body"),
        # 6,000 characters of three bytes each: under 16 Ki characters, over 16 KiB.
        ({**base, "body": "€" * 6000}, "body"),
    ]
    for body, field in bad:
        response = await api.post("/v1/notes", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, (body, response.json())
    biggest = await api.post("/v1/notes", json={**base, "body": "€" * 5461 + "x"})
    assert biggest.status_code == 201
    assert len((await notes_of(api, "customer", customer_id))["data"]) == 1
    assert len(await events_of(runtime, "note.added")) == 1
    no_target = await api.get("/v1/notes", params={"target_type": "customer"})
    assert no_target.status_code == 422
    assert no_target.json()["field"] == "target_id"


async def test_deleting_a_note_removes_it_and_publishes_note_deleted(
    api: httpx.AsyncClient, runtime: Runtime, other_tenant: TenantKey
) -> None:
    customer_id = await new_customer(api)
    keep = await add_note(api, "customer", customer_id, "keep")
    drop = await add_note(api, "customer", customer_id, "drop")
    theirs_customer = (
        await api.post("/v1/customers", json={"name": "X"}, headers=other_tenant.headers)
    ).json()
    theirs = (
        await api.post(
            "/v1/notes",
            json={"target_type": "customer", "target_id": theirs_customer["id"], "body": "theirs"},
            headers=other_tenant.headers,
        )
    ).json()
    deleted = await api.delete(f"/v1/notes/{drop['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert [n["id"] for n in (await notes_of(api, "customer", customer_id))["data"]] == [keep["id"]]
    again = await api.delete(f"/v1/notes/{drop['id']}")
    assert again.status_code == 404
    assert again.json()["field"] == "note_id"
    assert (await api.delete(f"/v1/notes/{theirs['id']}")).status_code == 404
    assert await events_of(runtime, "note.deleted") == [
        (
            "note.deleted",
            customer_id,
            {"note_id": drop["id"], "target_type": "customer", "target_id": customer_id},
        )
    ]


async def test_move_customer_moves_customer_notes_only_and_can_be_undone(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    ada = await new_customer(api, "Ada")
    bob = await new_customer(api, "Bob")
    case = (await api.post("/v1/cases", json={"customer_id": ada, "subject": "Help"})).json()
    first = await add_note(api, "customer", ada, "one")
    second = await add_note(api, "customer", ada, "two")
    on_case = await add_note(api, "case", case["id"], "case note")
    bobs = await add_note(api, "customer", bob, "bob's")

    def move(from_id: str, to_id: str, note_ids: list[str] | None = None) -> Any:
        return lambda uow: notes.move_customer(
            uow, tenant_id=tenant.tenant_id, from_customer_id=from_id, to_customer_id=to_id, note_ids=note_ids
        )

    moved = await runtime.db.write(move(ada, bob))
    assert moved == [first["id"], second["id"]]
    assert (await notes_of(api, "customer", ada))["data"] == []
    assert {n["id"] for n in (await notes_of(api, "customer", bob))["data"]} == {
        first["id"],
        second["id"],
        bobs["id"],
    }
    assert [n["id"] for n in (await notes_of(api, "case", case["id"]))["data"]] == [on_case["id"]]
    back = await runtime.db.write(move(bob, ada, moved))
    assert back == moved
    assert [n["id"] for n in (await notes_of(api, "customer", bob))["data"]] == [bobs["id"]]
    assert [
        (subject, data["from_customer_id"], data["to_customer_id"])
        for _, subject, data in await events_of(runtime, "note.moved")
    ] == [(bob, ada, bob), (bob, ada, bob), (ada, bob, ada), (ada, bob, ada)]
    with pytest.raises(NotFound):
        await runtime.db.write(move(ada, MISSING_CUSTOMER))
    with pytest.raises(ValidationFailed):
        await runtime.db.write(move(ada, ada))
    assert len((await notes_of(api, "customer", ada))["data"]) == 2
