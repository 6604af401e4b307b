"""Continuing a conversation by phone: the escalation links the phone, the next call from it joins the
conversation (even when the customer has a newer one), and requests that cannot work are refused."""

from __future__ import annotations

import httpx
import pytest
from tests.channels.voice.support import CALLER, events_of, start_call, the_call

from cxstack.runtime import Runtime

pytestmark = pytest.mark.usefixtures("number")


async def _customer_with_chat(api: httpx.AsyncClient, **customer: str) -> tuple[str, str]:
    created = (await api.post("/v1/customers", json={"name": "Jane", **customer})).json()
    chat = (
        await api.post("/v1/conversations", json={"customer_id": created["id"], "channel": "webchat"})
    ).json()
    return created["id"], chat["id"]


async def test_the_next_call_from_the_escalated_phone_joins_the_conversation(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    customer_id, chat_id = await _customer_with_chat(api, email="jane@example.com")
    response = await api.post(
        "/v1/channels/voice/escalations", json={"conversation_id": chat_id, "phone": "415.555.2671"}
    )
    assert response.status_code == 201, response.text
    escalation = response.json()
    customer = (await api.get(f"/v1/customers/{customer_id}")).json()
    assert ("phone", CALLER) in {(i["kind"], i["value"]) for i in customer["identities"]}
    # A newer conversation of the customer does not take the call: the escalation names the one it joins.
    newer = (
        await api.post("/v1/conversations", json={"customer_id": customer_id, "channel": "email"})
    ).json()

    call_sid, _ = await start_call(api)
    call = await the_call(api, call_sid)
    assert call["customer_id"] == customer_id and call["conversation_id"] == chat_id
    assert call["escalation_id"] == escalation["id"]
    assert (await api.get(f"/v1/conversations/{newer['id']}")).json()["message_count"] == 0
    [requested] = await events_of(runtime, "call.requested")
    assert requested.data["phone"] == CALLER and requested.data["conversation_id"] == chat_id
    [ringing] = await events_of(runtime, "call.ringing")
    assert ringing.data["escalation_id"] == escalation["id"]

    # Answered once: the customer's next call goes the usual way (their newest open conversation).
    second, _ = await start_call(api)
    assert (await the_call(api, second))["escalation_id"] is None


async def test_requests_that_cannot_work_are_refused_and_change_nothing(api: httpx.AsyncClient) -> None:
    _, no_phone_chat = await _customer_with_chat(api)
    response = await api.post("/v1/channels/voice/escalations", json={"conversation_id": no_phone_chat})
    assert response.status_code == 422 and response.json()["field"] == "phone"
    response = await api.post(
        "/v1/channels/voice/escalations", json={"conversation_id": no_phone_chat, "phone": "not a number"}
    )
    assert response.status_code == 422 and response.json()["field"] == "phone"

    await api.post("/v1/customers", json={"name": "Someone else", "phone": CALLER})
    response = await api.post(
        "/v1/channels/voice/escalations", json={"conversation_id": no_phone_chat, "phone": CALLER}
    )
    assert response.status_code == 409 and response.json()["field"] == "phone"

    customer_id, closed = await _customer_with_chat(api, phone="+14155550177")
    await api.post(f"/v1/conversations/{closed}/close")
    response = await api.post("/v1/channels/voice/escalations", json={"conversation_id": closed})
    assert response.status_code == 422 and response.json()["field"] == "conversation_id"
    response = await api.post("/v1/channels/voice/escalations", json={"conversation_id": "con_nope"})
    assert response.status_code == 404
    customer = (await api.get(f"/v1/customers/{customer_id}")).json()
    assert [i["kind"] for i in customer["identities"]] == ["phone"]
