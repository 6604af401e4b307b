"""An anonymous visitor who signs in keeps their chat and becomes the known customer: merged into them
when they exist, given the verified identity when they do not; a wrong user_hash merges nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.channels.webchat.conftest import LiveServer, agent, connect, visitor
from tests.channels.webchat.test_webchat_visitors import signed
from tests.conftest import TenantKey
from websockets.exceptions import ConnectionClosed

from cxstack.backbone.log import read_events
from cxstack.governance.audit.service import list_audit
from cxstack.runtime import Runtime


async def _events(runtime: Runtime, kind: str) -> list[dict[str, Any]]:
    events = await runtime.db.read(lambda session: read_events(session, after=0, limit=10_000))
    return [event.data for event in events if event.type == kind]


async def _customer_of(api: httpx.AsyncClient, conversation_id: str) -> str:
    customer_id: str = (await api.get(f"/v1/conversations/{conversation_id}")).json()["customer_id"]
    return customer_id


async def _timeline_kinds(runtime: Runtime, api: httpx.AsyncClient, customer_id: str) -> list[str]:
    assert runtime.bus is not None
    await runtime.bus.drain()
    page = (await api.get(f"/v1/customers/{customer_id}/timeline", params={"limit": 200})).json()
    return [entry["kind"] for entry in page["data"]]


async def test_signing_in_merges_the_anonymous_chat_into_the_known_customer(
    server: LiveServer, widget: dict[str, Any], tenant: TenantKey, api: httpx.AsyncClient, runtime: Runtime
) -> None:
    known = await api.post(
        "/v1/customers",
        json={"name": "Ada", "identities": [{"kind": "external", "system": "app", "value": "user-42"}]},
    )
    assert known.status_code == 201, known.text
    known_id = known.json()["id"]
    user_hash = signed(widget["identity_secret"], "user-42")
    async with agent(server, tenant) as desk, visitor(server, widget["widget_key"]) as (chat, welcome):
        assert welcome["verified"] is False and welcome["customer_id"] is None  # nothing stored yet
        await chat.send({"type": "message", "client_id": "1", "body": "Where is my parcel?"})
        conversation_id = (await chat.expect("ack"))["message"]["conversation_id"]
        anonymous_id = await _customer_of(api, conversation_id)
        assert anonymous_id != known_id
        await desk.expect("message")
        await desk.send(
            {"type": "message", "conversation_id": conversation_id, "client_id": "r", "body": "Hi!"}
        )
        await chat.expect("message")

        # The page signs its user in: the same socket, the same conversation, now Ada's.
        await chat.send({"type": "auth", "user_id": "user-42", "user_hash": user_hash})
        signed_in = await chat.expect("signed_in")
        assert signed_in["customer_id"] == known_id and signed_in["merged"] is True
        assert signed_in["conversation_id"] == conversation_id
        assert signed_in["visitor_id"] == welcome["visitor_id"]
        assert [m["body"] for m in signed_in["history"]] == ["Where is my parcel?", "Hi!"]
        merged = await desk.expect("customer", event="merged")
        assert merged["data"]["source_customer_id"] == anonymous_id
        assert merged["data"]["target_customer_id"] == known_id
        assert merged["data"]["moved"]["conversations"] == [conversation_id]

        # The chat goes on in the same conversation, both ways.
        await chat.send({"type": "message", "client_id": "2", "body": "It's Ada"})
        assert (await chat.expect("ack"))["message"]["conversation_id"] == conversation_id
        await desk.send(
            {"type": "message", "conversation_id": conversation_id, "client_id": "s", "body": "Hi Ada"}
        )
        assert (await chat.expect("message"))["message"]["body"] == "Hi Ada"

    conversation = (await api.get(f"/v1/conversations/{conversation_id}")).json()
    assert conversation["customer_id"] == known_id
    customer = (await api.get(f"/v1/customers/{known_id}")).json()
    assert ("webchat_visitor", welcome["visitor_id"]) in [
        (i["kind"], i["value"]) for i in customer["identities"]
    ]
    assert [
        (e["source_customer_id"], e["target_customer_id"]) for e in await _events(runtime, "customer.merged")
    ] == [(anonymous_id, known_id)]
    # Ada's timeline now holds the chat she had before signing in.
    kinds = await _timeline_kinds(runtime, api, known_id)
    assert kinds.count("message.received") == 2 and "conversation.created" in kinds

    # Signed in again later (without the anonymous id): the same visitor and the whole chat.
    async with visitor(server, widget["widget_key"], user_id="user-42", user_hash=user_hash) as (_, again):
        assert again["visitor_id"] == welcome["visitor_id"] and again["customer_id"] == known_id
        assert [m["body"] for m in again["history"]] == ["Where is my parcel?", "Hi!", "It's Ada", "Hi Ada"]
    # The old anonymous id no longer opens Ada's chat (a signed-out browser starts afresh).
    async with visitor(server, widget["widget_key"], visitor_id=welcome["visitor_id"]) as (_, signed_out):
        assert signed_out["visitor_id"] != welcome["visitor_id"]
        assert signed_out["customer_id"] != known_id and signed_out["history"] == []


async def test_signing_in_as_a_new_user_makes_the_anonymous_customer_the_known_one(
    server: LiveServer, widget: dict[str, Any], api: httpx.AsyncClient, runtime: Runtime
) -> None:
    async with visitor(server, widget["widget_key"]) as (chat, welcome):
        await chat.send({"type": "message", "client_id": "1", "body": "Before signing up"})
        conversation_id = (await chat.expect("ack"))["message"]["conversation_id"]
        anonymous_id = await _customer_of(api, conversation_id)
    # The page reloads after the user signed up; the widget names the anonymous visitor in its hello.
    user_hash = signed(widget["identity_secret"], "user-new")
    async with visitor(
        server,
        widget["widget_key"],
        visitor_id=welcome["visitor_id"],
        user_id="user-new",
        user_hash=user_hash,
    ) as (chat, again):
        assert again["verified"] is True
        assert again["customer_id"] == anonymous_id
        assert again["conversation_id"] == conversation_id
        assert [m["body"] for m in again["history"]] == ["Before signing up"]
    customer = (await api.get(f"/v1/customers/{anonymous_id}")).json()
    identities = {(i["kind"], i.get("system"), i["value"]): i["verified"] for i in customer["identities"]}
    assert identities[("external", "app", "user-new")] is True
    assert await _events(runtime, "customer.merged") == []
    assert len((await api.get("/v1/customers")).json()["data"]) == 1


async def test_a_user_who_chatted_signed_in_before_takes_the_anonymous_chat_over(
    server: LiveServer, widget: dict[str, Any], api: httpx.AsyncClient, runtime: Runtime
) -> None:
    user_hash = signed(widget["identity_secret"], "user-7")
    async with visitor(server, widget["widget_key"], user_id="user-7", user_hash=user_hash) as (chat, first):
        await chat.send({"type": "message", "client_id": "old", "body": "An old question"})
        await chat.expect("ack")
    # On another device, anonymously, then signed in there.
    async with visitor(server, widget["widget_key"]) as (chat, anonymous):
        await chat.send({"type": "message", "client_id": "new", "body": "A new question"})
        conversation_id = (await chat.expect("ack"))["message"]["conversation_id"]
        await chat.send({"type": "auth", "user_id": "user-7", "user_hash": user_hash})
        signed_in = await chat.expect("signed_in")
        assert (
            signed_in["visitor_id"] == first["visitor_id"]
            and signed_in["customer_id"] == first["customer_id"]
        )
        assert signed_in["conversation_id"] == conversation_id
        assert [m["body"] for m in signed_in["history"]] == ["A new question"]
        await chat.send({"type": "message", "client_id": "more", "body": "More"})
        assert (await chat.expect("ack"))["message"]["conversation_id"] == conversation_id
    async with visitor(server, widget["widget_key"], user_id="user-7", user_hash=user_hash) as (_, later):
        assert later["visitor_id"] == first["visitor_id"]
        assert [m["body"] for m in later["history"]] == ["A new question", "More"]
    async with visitor(server, widget["widget_key"], visitor_id=anonymous["visitor_id"]) as (_, gone):
        assert gone["visitor_id"] != anonymous["visitor_id"] and gone["history"] == []
    conversation = (await api.get(f"/v1/conversations/{conversation_id}")).json()
    assert conversation["customer_id"] == first["customer_id"]
    assert [m["target_customer_id"] for m in await _events(runtime, "customer.merged")] == [
        first["customer_id"]
    ]


async def test_a_sign_in_with_a_wrong_user_hash_is_refused_and_nothing_merges(
    server: LiveServer, widget: dict[str, Any], api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    known = await api.post(
        "/v1/customers", json={"identities": [{"kind": "external", "system": "app", "value": "user-42"}]}
    )
    assert known.status_code == 201
    async with visitor(server, widget["widget_key"]) as (chat, welcome):
        await chat.send({"type": "message", "client_id": "1", "body": "hi"})
        conversation_id = (await chat.expect("ack"))["message"]["conversation_id"]
        anonymous_id = await _customer_of(api, conversation_id)
        await chat.send({"type": "auth", "user_id": "user-42", "user_hash": "0" * 64})
        refused = await chat.expect("error")
        assert refused["code"] == "identity_invalid" and "user_hash does not match" in refused["detail"]
        await chat.send({"type": "auth", "api_key": "cx_whatever"})
        assert "user_id and user_hash" in (await chat.expect("error"))["detail"]
        # Still the anonymous chat, open.
        await chat.send({"type": "message", "client_id": "2", "body": "still me"})
        assert (await chat.expect("ack"))["message"]["conversation_id"] == conversation_id
    # A hello naming the anonymous visitor with a wrong hash is refused and closed, as any wrong hash is.
    async with connect(server.ws_url + "/ws/webchat") as socket:
        await socket.send(
            {
                "type": "hello",
                "widget_key": widget["widget_key"],
                "visitor_id": welcome["visitor_id"],
                "user_id": "user-42",
                "user_hash": signed("not the secret", "user-42"),
            }
        )
        assert (await socket.expect("error"))["code"] == "identity_invalid"
        with pytest.raises(ConnectionClosed):
            await socket.next()
    conversation = (await api.get(f"/v1/conversations/{conversation_id}")).json()
    assert conversation["customer_id"] == anonymous_id
    assert await _events(runtime, "customer.merged") == []
    anonymous = (await api.get(f"/v1/customers/{anonymous_id}")).json()
    assert [i["kind"] for i in anonymous["identities"]] == ["webchat_visitor"]
    entries = await runtime.db.read(lambda session: list(list_audit(session, tenant_id=tenant.tenant_id)))
    assert len([e for e in entries if e.action == "webchat.identity_rejected"]) == 2
    assert not [e for e in entries if e.action == "webchat.visitor_signed_in"]
    async with visitor(server, widget["widget_key"], visitor_id=welcome["visitor_id"]) as (_, back):
        assert back["visitor_id"] == welcome["visitor_id"] and back["verified"] is False


async def test_a_visitor_an_agent_merged_into_a_known_customer_chats_and_signs_in_as_that_customer(
    server: LiveServer, widget: dict[str, Any], api: httpx.AsyncClient, runtime: Runtime
) -> None:
    known = await api.post(
        "/v1/customers",
        json={"name": "Ada", "identities": [{"kind": "external", "system": "app", "value": "user-42"}]},
    )
    known_id = known.json()["id"]
    async with visitor(server, widget["widget_key"]) as (chat, welcome):
        await chat.send({"type": "message", "client_id": "1", "body": "It's Ada, from my phone"})
        conversation_id = (await chat.expect("ack"))["message"]["conversation_id"]
        anonymous_id = await _customer_of(api, conversation_id)
    # The agent recognises Ada and merges the anonymous customer into her record.
    merged = await api.post(f"/v1/customers/{known_id}/merge", json={"source_customer_id": anonymous_id})
    assert merged.status_code == 201, merged.text
    async with visitor(server, widget["widget_key"], visitor_id=welcome["visitor_id"]) as (chat, again):
        assert again["visitor_id"] == welcome["visitor_id"] and again["customer_id"] == known_id
        await chat.send({"type": "contact", "name": "Ada L.", "email": "ada@example.com"})
        saved = await chat.expect("contact_saved")
        assert saved["contact"]["email"] == "ada@example.com"
        # Ada signs in on the page: she is that customer already, so nothing more is merged.
        await chat.send(
            {"type": "auth", "user_id": "user-42", "user_hash": signed(widget["identity_secret"], "user-42")}
        )
        signed_in = await chat.expect("signed_in")
        assert signed_in["customer_id"] == known_id and signed_in["merged"] is False
        assert signed_in["conversation_id"] == conversation_id
        await chat.send({"type": "message", "client_id": "2", "body": "Signed in now"})
        assert (await chat.expect("ack"))["message"]["conversation_id"] == conversation_id
    customer = (await api.get(f"/v1/customers/{known_id}")).json()
    assert customer["name"] == "Ada L."
    assert ("email", "ada@example.com") in [(i["kind"], i["value"]) for i in customer["identities"]]
    assert len(await _events(runtime, "customer.merged")) == 1


async def test_a_visitor_an_agent_merged_away_signs_in_as_a_new_user_on_the_customer_it_was_merged_into(
    server: LiveServer, widget: dict[str, Any], api: httpx.AsyncClient, runtime: Runtime
) -> None:
    grace = (await api.post("/v1/customers", json={"name": "Grace"})).json()["id"]
    async with visitor(server, widget["widget_key"]) as (chat, welcome):
        await chat.send({"type": "message", "client_id": "1", "body": "hello"})
        conversation_id = (await chat.expect("ack"))["message"]["conversation_id"]
        anonymous_id = await _customer_of(api, conversation_id)
        merged = await api.post(f"/v1/customers/{grace}/merge", json={"source_customer_id": anonymous_id})
        assert merged.status_code == 201, merged.text
        # On the open socket too: the new user's identity goes to Grace, not to the customer merged away.
        await chat.send(
            {
                "type": "auth",
                "user_id": "user-new",
                "user_hash": signed(widget["identity_secret"], "user-new"),
            }
        )
        signed_in = await chat.expect("signed_in")
        assert signed_in["customer_id"] == grace and signed_in["merged"] is False
        assert signed_in["conversation_id"] == conversation_id
    customer = (await api.get(f"/v1/customers/{grace}")).json()
    assert ("external", "user-new") in [(i["kind"], i["value"]) for i in customer["identities"]]
    # Undoing the agent's merge gives the visitor its own customer back, with the conversation.
    await api.post(f"/v1/merges/{merged.json()['id']}/undo")
    async with visitor(
        server,
        widget["widget_key"],
        user_id="user-new",
        user_hash=signed(widget["identity_secret"], "user-new"),
    ) as (_, back):
        assert back["visitor_id"] == welcome["visitor_id"]
        assert back["conversation_id"] == conversation_id
