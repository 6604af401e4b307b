"""Who sees which message: internal ones (what the system notes about a call) reach agents and the timeline,
never the visitor's widget."""

from __future__ import annotations

from typing import Any

import httpx
from tests.channels.webchat.conftest import LiveServer, agent, visitor
from tests.conftest import TenantKey


async def test_internal_messages_reach_agents_but_never_the_visitors_widget(
    server: LiveServer, widget: dict[str, Any], tenant: TenantKey, api: httpx.AsyncClient
) -> None:
    async with agent(server, tenant) as desk, visitor(server, widget["widget_key"]) as (chat, welcome):
        await chat.send({"type": "message", "client_id": "c-1", "body": "Can you call me?"})
        conversation_id = (await chat.expect("ack", client_id="c-1"))["message"]["conversation_id"]
        await desk.expect("message")
        notes = [
            {"direction": "inbound", "author_kind": "system", "body": "Incoming call from +16175550123"},
            {"direction": "outbound", "author_kind": "system", "body": "Call answered by Priya Shah"},
        ]
        for note in notes:
            response = await api.post(
                f"/v1/conversations/{conversation_id}/messages",
                json={**note, "visibility": "internal", "channel": "webchat"},
            )
            assert response.status_code == 201, response.text
            assert response.json()["visibility"] == "internal"
            seen = await desk.expect("message")
            assert seen["message"]["body"] == note["body"]
            assert seen["message"]["visibility"] == "internal"
        reply = await api.post(
            f"/v1/conversations/{conversation_id}/messages",
            json={"direction": "outbound", "author_id": "agent-7", "body": "Calling you now"},
        )
        assert reply.status_code == 201 and reply.json()["visibility"] == "public"
        # The next message the widget gets is the agent's reply: the notes never came.
        arrived = await chat.expect("message")
        assert arrived["message"]["body"] == "Calling you now"

    async with visitor(server, widget["widget_key"], visitor_id=welcome["visitor_id"]) as (_, again):
        assert [m["body"] for m in again["history"]] == ["Can you call me?", "Calling you now"]
    # Agents read every message.
    stored = (await api.get(f"/v1/conversations/{conversation_id}/messages")).json()["data"]
    assert [m["visibility"] for m in stored] == ["public", "internal", "internal", "public"]


async def test_a_message_of_unknown_visibility_is_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    customer = (await api.post("/v1/customers", json={"name": "Ada"})).json()
    conversation = (
        await api.post("/v1/conversations", json={"customer_id": customer["id"], "channel": "webchat"})
    ).json()
    response = await api.post(
        f"/v1/conversations/{conversation['id']}/messages",
        json={"direction": "outbound", "body": "x", "visibility": "secret"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "visibility"
    assert (await api.get(f"/v1/conversations/{conversation['id']}/messages")).json()["data"] == []
