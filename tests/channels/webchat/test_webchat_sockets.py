"""The visitor and agent sockets over a real server: messages both ways, resends, history, typing and
receipts, and garbage refused with the right close code."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tests.channels.webchat.conftest import LiveServer, Socket, agent, connect, visitor
from tests.conftest import TenantKey
from websockets.exceptions import ConnectionClosed

from cxstack.channels.live.frames import MAX_FRAME_BYTES


async def test_visitor_message_reaches_agent_and_reply_reaches_visitor(
    server: LiveServer, widget: dict[str, Any], tenant: TenantKey, api: httpx.AsyncClient
) -> None:
    async with agent(server, tenant) as desk, visitor(server, widget["widget_key"]) as (chat, welcome):
        assert welcome["greeting"] == "Hello from Acme"
        assert welcome["online"] is True and welcome["history"] == []
        await chat.send({"type": "message", "client_id": "c-1", "body": "Where is my order?"})
        ack = await chat.expect("ack", client_id="c-1")
        assert ack["duplicate"] is False
        sent = ack["message"]
        assert sent["body"] == "Where is my order?" and sent["direction"] == "inbound"

        arrived = await desk.expect("message")
        assert arrived["message"]["id"] == sent["id"]
        assert arrived["message"]["body"] == "Where is my order?"
        conversation_id = sent["conversation_id"]

        await desk.send(
            {"type": "message", "conversation_id": conversation_id, "client_id": "a-1", "body": "On its way!"}
        )
        reply_ack = await desk.expect("ack", client_id="a-1")
        reply = await chat.expect("message")
        assert reply["message"]["id"] == reply_ack["message"]["id"]
        assert reply["message"]["body"] == "On its way!"
        assert reply["message"]["direction"] == "outbound"

    stored = await api.get(f"/v1/conversations/{conversation_id}/messages")
    assert [m["body"] for m in stored.json()["data"]] == ["Where is my order?", "On its way!"]
    conversation = (await api.get(f"/v1/conversations/{conversation_id}")).json()
    assert conversation["channel"] == "webchat"
    customer = (await api.get(f"/v1/customers/{conversation['customer_id']}")).json()
    assert [(i["kind"], i["value"]) for i in customer["identities"]] == [
        ("webchat_visitor", welcome["visitor_id"])
    ]


async def test_resend_after_a_dropped_connection_answers_with_the_original_and_stores_once(
    server: LiveServer, widget: dict[str, Any], tenant: TenantKey, api: httpx.AsyncClient
) -> None:
    async with agent(server, tenant) as desk:
        async with visitor(server, widget["widget_key"]) as (chat, welcome):
            await chat.send({"type": "message", "client_id": "same", "body": "hello?"})
            first = (await chat.expect("ack", client_id="same"))["message"]
        # The connection dropped before the client saw more; it comes back and sends the message again.
        async with visitor(server, widget["widget_key"], visitor_id=welcome["visitor_id"], after=None) as (
            chat,
            again,
        ):
            assert [m["id"] for m in again["history"]] == [first["id"]]
            await chat.send({"type": "message", "client_id": "same", "body": "hello?"})
            resent = await chat.expect("ack", client_id="same")
            assert resent["duplicate"] is True
            assert resent["message"]["id"] == first["id"]
        await desk.expect("message")
        await desk.quiet("message")
    listed = (await api.get(f"/v1/conversations/{first['conversation_id']}/messages")).json()["data"]
    assert [m["id"] for m in listed] == [first["id"]]


async def test_resume_returns_only_the_messages_after_the_last_one_the_client_has(
    server: LiveServer, widget: dict[str, Any], tenant: TenantKey
) -> None:
    async with visitor(server, widget["widget_key"]) as (chat, welcome):
        ids = []
        for n in range(3):
            await chat.send({"type": "message", "client_id": f"m{n}", "body": f"message {n}"})
            ids.append((await chat.expect("ack", client_id=f"m{n}"))["message"]["id"])
    async with visitor(server, widget["widget_key"], visitor_id=welcome["visitor_id"]) as (_, reload):
        assert [m["body"] for m in reload["history"]] == ["message 0", "message 1", "message 2"]
        conversation_id = reload["conversation_id"]
    # Meanwhile an agent answered; the client resumes from the last message it had.
    async with agent(server, tenant) as desk:
        await desk.send(
            {"type": "message", "conversation_id": conversation_id, "client_id": "r", "body": "Hi"}
        )
        await desk.expect("ack", client_id="r")
    async with visitor(server, widget["widget_key"], visitor_id=welcome["visitor_id"], after=ids[1]) as (
        _,
        resumed,
    ):
        assert [m["body"] for m in resumed["history"]] == ["message 2", "Hi"]


async def test_typing_and_receipts_travel_both_ways(
    server: LiveServer, widget: dict[str, Any], tenant: TenantKey
) -> None:
    async with agent(server, tenant) as desk, visitor(server, widget["widget_key"]) as (chat, _):
        await chat.send({"type": "message", "client_id": "q", "body": "question"})
        question = (await chat.expect("ack"))["message"]
        conversation_id = question["conversation_id"]
        await desk.expect("message")

        await chat.send({"type": "typing", "state": True})
        typing = await desk.expect("typing")
        assert typing == {
            "type": "typing",
            "conversation_id": conversation_id,
            "by": "visitor",
            "state": True,
        }
        await desk.send({"type": "typing", "conversation_id": conversation_id, "state": True})
        assert (await chat.expect("typing"))["by"] == "agent"

        await desk.send({"type": "read", "conversation_id": conversation_id, "message_id": question["id"]})
        read = await chat.expect("receipt")
        assert read == {"type": "receipt", "receipt": "read", "message_id": question["id"], "by": "agent"}

        await desk.send(
            {"type": "message", "conversation_id": conversation_id, "client_id": "x", "body": "answer"}
        )
        answer = (await chat.expect("message"))["message"]
        await chat.send({"type": "delivered", "message_id": answer["id"]})
        await chat.send({"type": "read", "message_id": answer["id"]})
        delivered = await desk.expect("receipt", receipt="delivered")
        assert delivered["message_id"] == answer["id"] and delivered["by"] == "visitor"
        assert (await desk.expect("receipt", receipt="read"))["message_id"] == answer["id"]


async def _closed_with(socket: Socket) -> tuple[dict[str, Any], int, str]:
    error = await socket.expect("error")
    with pytest.raises(ConnectionClosed) as closed:
        await socket.next()
    assert closed.value.rcvd is not None
    return error, closed.value.rcvd.code, closed.value.rcvd.reason


@pytest.mark.parametrize(
    ("frame", "code", "close_code"),
    [
        (b"\x00\x01binary", "binary_frame", 1003),
        ("this is not json", "invalid_json", 1007),
        ("[1, 2, 3]", "invalid_json", 1007),
        ('{"type": "launch_missiles"}', "unknown_frame_type", 1008),
        ('{"type": "message", "client_id": "c", "body": "before hello"}', "hello_expected", 1008),
        ('{"type": "hello", "widget_key": "wk_nobody"}', "widget_key_unknown", 1008),
    ],
)
async def test_garbage_gets_an_error_frame_and_a_close_code(
    server: LiveServer, widget: dict[str, Any], frame: str | bytes, code: str, close_code: int
) -> None:
    async with connect(server.ws_url + "/ws/webchat") as socket:
        await socket.send(frame)
        error, closed_code, reason = await _closed_with(socket)
        assert error["code"] == code
        assert closed_code == close_code
        assert reason


async def test_garbage_after_hello_and_oversized_frames_close_the_socket(
    server: LiveServer, widget: dict[str, Any]
) -> None:
    async with visitor(server, widget["widget_key"]) as (chat, _):
        await chat.send("{broken")
        error, closed_code, _ = await _closed_with(chat)
        assert (error["code"], closed_code) == ("invalid_json", 1007)
    async with visitor(server, widget["widget_key"]) as (chat, _):
        await chat.send({"type": "message", "client_id": "big", "body": "x" * (MAX_FRAME_BYTES + 1)})
        error, closed_code, _ = await _closed_with(chat)
        assert (error["code"], closed_code) == ("frame_too_large", 1009)
        assert str(MAX_FRAME_BYTES) in error["detail"]


async def test_an_oversized_message_is_refused_with_a_clear_error_and_the_socket_stays_open(
    server: LiveServer, widget: dict[str, Any], api: httpx.AsyncClient
) -> None:
    async with visitor(server, widget["widget_key"]) as (chat, _):
        await chat.send({"type": "message", "client_id": "huge", "body": "é" * 40_000})
        error = await chat.expect("error")
        assert error["code"] == "message_too_large"
        assert error["client_id"] == "huge"
        assert "80000 bytes" in error["detail"] and "65536" in error["detail"]
        await chat.send({"type": "message", "client_id": "bad", "body": "x", "unknown": 1})
        assert (await chat.expect("error"))["code"] == "invalid_frame"
        await chat.send({"type": "message", "client_id": "ok", "body": "fine"})
        ack = await chat.expect("ack")
    listed = (await api.get(f"/v1/conversations/{ack['message']['conversation_id']}/messages")).json()["data"]
    assert [m["body"] for m in listed] == ["fine"]


async def test_agent_socket_needs_a_valid_api_key(server: LiveServer, tenant: TenantKey) -> None:
    async with connect(server.ws_url + "/ws/agent") as socket:
        await socket.send({"type": "auth", "api_key": "cx_wrong"})
        error, closed_code, _ = await _closed_with(socket)
        assert error["code"] == "unauthorized" and closed_code == 1008
    async with connect(server.ws_url + "/ws/agent") as socket:
        await socket.send({"type": "auth", "api_key": tenant.key})
        assert (await socket.expect("welcome"))["tenant_id"] == tenant.tenant_id


async def test_agent_sees_only_its_own_tenants_conversations(
    server: LiveServer, widget: dict[str, Any], tenant: TenantKey, other_tenant: TenantKey
) -> None:
    async with agent(server, other_tenant) as other_desk, agent(server, tenant) as desk:
        async with visitor(server, widget["widget_key"]) as (chat, _):
            await chat.send({"type": "message", "client_id": "mine", "body": "for acme"})
            await desk.expect("message")
        await other_desk.quiet("message")
        # Nor can the other tenant's agent write into it.
        conversation_id = desk.seen[-1]["message"]["conversation_id"]
        await other_desk.send(
            {"type": "message", "conversation_id": conversation_id, "client_id": "z", "body": "hi"}
        )
        assert (await other_desk.expect("error"))["code"] == "not_found"


async def test_many_visitors_at_once_each_get_their_own_messages(
    server: LiveServer, widget: dict[str, Any], tenant: TenantKey
) -> None:
    async with agent(server, tenant) as desk:

        async def one(n: int) -> None:
            async with visitor(server, widget["widget_key"]) as (chat, _):
                for m in range(3):
                    await chat.send({"type": "message", "client_id": f"{n}-{m}", "body": f"{n}/{m}"})
                    assert (await chat.expect("ack"))["message"]["body"] == f"{n}/{m}"

        await asyncio.gather(*(one(n) for n in range(20)))
        bodies = set()
        while len(bodies) < 60:
            bodies.add((await desk.expect("message"))["message"]["body"])
        assert bodies == {f"{n}/{m}" for n in range(20) for m in range(3)}


async def test_nul_in_a_frame_is_an_error_naming_the_field_and_nothing_is_stored(
    server: LiveServer, widget: dict[str, Any], api: httpx.AsyncClient
) -> None:
    async with visitor(server, widget["widget_key"]) as (chat, _):
        await chat.send({"type": "message", "client_id": "nul", "body": "a\u0000b"})
        error = await chat.expect("error")
        assert error["code"] == "invalid_frame" and error["client_id"] == "nul"
        assert error["detail"].startswith("body:") and "U+0000" in error["detail"]
        await chat.send({"type": "contact", "name": "Ada\u0000"})
        assert (await chat.expect("error"))["detail"].startswith("name:")
        await chat.send({"type": "message", "client_id": "ok", "body": "fine"})
        ack = await chat.expect("ack")
    listed = (await api.get(f"/v1/conversations/{ack['message']['conversation_id']}/messages")).json()["data"]
    assert [m["body"] for m in listed] == ["fine"]
