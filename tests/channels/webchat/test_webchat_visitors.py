"""Who a visitor is (anonymous, signed in, refused), the pre-chat form, offline hours handing the
conversation to email, attachments, and the settings API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import httpx
import pytest
from tests.channels.webchat.conftest import LiveServer, agent, closed_now, connect, visitor
from tests.conftest import TenantKey
from websockets.exceptions import ConnectionClosed

from cxstack.channels.webchat.api import MAX_UPLOAD_BYTES
from cxstack.governance.audit.service import list_audit
from cxstack.kit.files import key_of, local_file_store
from cxstack.runtime import Runtime


def signed(secret: str, user_id: str) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


async def test_settings_api_creates_keys_checks_input_and_honours_idempotency(api: httpx.AsyncClient) -> None:
    missing = await api.get("/v1/channels/webchat/settings")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")

    bad = await api.put(
        "/v1/channels/webchat/settings",
        json={"business_hours": {"timezone": "Mars/Olympus", "days": {"mon": [["09:00", "17:00"]]}}},
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "business_hours.timezone"
    bad_range = await api.put(
        "/v1/channels/webchat/settings",
        json={"business_hours": {"timezone": "UTC", "days": {"mon": [["17:00", "09:00"]]}}},
    )
    assert bad_range.status_code == 422 and bad_range.json()["field"] == "business_hours.days.mon"
    assert (await api.get("/v1/channels/webchat/settings")).status_code == 404  # nothing half-written

    body = {"greeting": "Hej!", "prechat": {"name": "optional", "email": "required"}}
    first = await api.put("/v1/channels/webchat/settings", json=body, headers={"Idempotency-Key": "k-1"})
    again = await api.put("/v1/channels/webchat/settings", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200
    assert again.headers.get("idempotent-replayed") == "true"
    assert first.json() == again.json()
    settings = first.json()
    assert settings["widget_key"].startswith("wk_") and len(settings["identity_secret"]) == 64
    assert settings["prechat"] == {"name": "optional", "email": "required"}

    rotated = (await api.put("/v1/channels/webchat/settings", json={"rotate_secret": True})).json()
    assert rotated["identity_secret"] != settings["identity_secret"]
    assert rotated["widget_key"] == settings["widget_key"] and rotated["greeting"] == "Hej!"


async def test_a_signed_in_visitor_becomes_the_known_customer(
    server: LiveServer, widget: dict[str, Any], api: httpx.AsyncClient
) -> None:
    known = await api.post(
        "/v1/customers",
        json={"name": "Ada", "identities": [{"kind": "external", "system": "app", "value": "user-42"}]},
    )
    assert known.status_code == 201, known.text
    user_hash = signed(widget["identity_secret"], "user-42")
    async with visitor(server, widget["widget_key"], user_id="user-42", user_hash=user_hash) as (
        chat,
        welcome,
    ):
        assert welcome["verified"] is True
        assert welcome["customer_id"] == known.json()["id"]
        await chat.send({"type": "message", "client_id": "1", "body": "I am Ada"})
        ack = await chat.expect("ack")
    conversation = (await api.get(f"/v1/conversations/{ack['message']['conversation_id']}")).json()
    assert conversation["customer_id"] == known.json()["id"]
    # Signed in again elsewhere: the same visitor and conversation.
    async with visitor(server, widget["widget_key"], user_id="user-42", user_hash=user_hash.upper()) as (
        _,
        again,
    ):
        assert again["visitor_id"] == welcome["visitor_id"]
        assert [m["body"] for m in again["history"]] == ["I am Ada"]


async def test_opening_the_chat_stores_nobody_until_the_visitor_writes(
    server: LiveServer, widget: dict[str, Any], api: httpx.AsyncClient
) -> None:
    # Pages with the widget open and close: no customer is made for any of them.
    for _ in range(3):
        async with visitor(server, widget["widget_key"]) as (chat, welcome):
            assert welcome["visitor_id"].startswith("v_") and welcome["customer_id"] is None
            await chat.send({"type": "typing", "state": True})
            await chat.send({"type": "ping"})
            await chat.expect("pong")
    assert (await api.get("/v1/customers")).json()["data"] == []

    # The next page keeps the visitor id it was given, and still stores nothing.
    async with visitor(server, widget["widget_key"], visitor_id=welcome["visitor_id"]) as (_, again):
        assert again["visitor_id"] == welcome["visitor_id"] and again["history"] == []
    assert (await api.get("/v1/customers")).json()["data"] == []

    # The first message stores the visitor and their customer, under that id; a reconnect resumes.
    async with visitor(server, widget["widget_key"], visitor_id=welcome["visitor_id"]) as (chat, _):
        await chat.send({"type": "message", "client_id": "c-1", "body": "Hello?"})
        ack = await chat.expect("ack", client_id="c-1")
    [customer] = (await api.get("/v1/customers")).json()["data"]
    assert [(i["kind"], i["value"]) for i in customer["identities"]] == [
        ("webchat_visitor", welcome["visitor_id"])
    ]
    async with visitor(
        server, widget["widget_key"], visitor_id=welcome["visitor_id"], after=ack["message"]["id"]
    ) as (chat, resumed):
        assert resumed["customer_id"] == customer["id"] and resumed["history"] == []
        await chat.send({"type": "message", "client_id": "c-1", "body": "Hello?"})
        assert (await chat.expect("ack", client_id="c-1"))["duplicate"] is True
        await chat.send({"type": "message", "client_id": "c-2", "body": "Anyone?"})
        assert (await chat.expect("ack", client_id="c-2"))["message"]["conversation_id"] == ack["message"][
            "conversation_id"
        ]
    assert len((await api.get("/v1/customers")).json()["data"]) == 1


async def test_an_upload_before_the_first_message_stores_the_visitor(
    server: LiveServer, widget: dict[str, Any], api: httpx.AsyncClient
) -> None:
    async with visitor(server, widget["widget_key"]) as (chat, welcome):
        async with httpx.AsyncClient(base_url=server.url) as http:
            uploaded = await http.post(
                "/widget/v1/uploads",
                params={"widget_key": widget["widget_key"], "visitor_id": welcome["visitor_id"]},
                files={"file": ("note.txt", b"hello file", "text/plain")},
            )
            assert uploaded.status_code == 201, uploaded.text
            stranger = await http.post(
                "/widget/v1/uploads",
                params={"widget_key": widget["widget_key"], "visitor_id": "not-one-we-gave"},
                files={"file": ("note.txt", b"hello file", "text/plain")},
            )
            assert stranger.status_code == 403 and stranger.json()["field"] == "visitor_id"
        await chat.send({"type": "message", "client_id": "f", "attachments": [uploaded.json()]})
        ack = await chat.expect("ack", client_id="f")
    conversation = (await api.get(f"/v1/conversations/{ack['message']['conversation_id']}")).json()
    [customer] = (await api.get("/v1/customers")).json()["data"]
    assert conversation["customer_id"] == customer["id"]


async def test_a_wrong_user_hash_is_refused_closed_and_audited(
    server: LiveServer, widget: dict[str, Any], runtime: Runtime, tenant: TenantKey, api: httpx.AsyncClient
) -> None:
    async with connect(server.ws_url + "/ws/webchat") as socket:
        await socket.send(
            {"type": "hello", "widget_key": widget["widget_key"], "user_id": "user-42", "user_hash": "0" * 64}
        )
        error = await socket.expect("error")
        assert error["code"] == "identity_invalid"
        assert "user_hash does not match" in error["detail"]
        with pytest.raises(ConnectionClosed):
            await socket.next()
        assert socket.connection.close_code == 1008
    entries = await runtime.db.read(lambda session: list(list_audit(session, tenant_id=tenant.tenant_id)))
    rejected = [e for e in entries if e.action == "webchat.identity_rejected"]
    assert len(rejected) == 1 and rejected[0].detail["user_id"] == "user-42"
    customers = (await api.get("/v1/customers")).json()["data"]
    assert customers == []  # nobody was created for the refused visitor


async def test_required_pre_chat_form_comes_before_the_first_message(
    server: LiveServer, api: httpx.AsyncClient
) -> None:
    settings = (
        await api.put(
            "/v1/channels/webchat/settings", json={"prechat": {"name": "optional", "email": "required"}}
        )
    ).json()
    async with visitor(server, settings["widget_key"]) as (chat, welcome):
        assert welcome["prechat"] == {"name": "optional", "email": "required"}
        assert welcome["missing"] == ["email"]
        await chat.send({"type": "message", "client_id": "early", "body": "hi"})
        refused = await chat.expect("error")
        assert refused["code"] == "prechat_required" and refused["missing"] == ["email"]

        await chat.send({"type": "contact", "email": "not an address"})
        assert (await chat.expect("error"))["field"] == "email"
        # A refused message and a bad address store nobody.
        assert (await api.get("/v1/customers")).json()["data"] == []
        await chat.send({"type": "contact", "name": "Grace", "email": "Grace@Example.COM"})
        saved = await chat.expect("contact_saved")
        assert saved["missing"] == [] and saved["contact"]["email"] == "grace@example.com"
        [stored] = (await api.get("/v1/customers")).json()["data"]  # the pre-chat form identifies her
        await chat.send({"type": "message", "client_id": "now", "body": "hi"})
        ack = await chat.expect("ack")
    conversation = (await api.get(f"/v1/conversations/{ack['message']['conversation_id']}")).json()
    assert conversation["customer_id"] == stored["id"]
    customer = (await api.get(f"/v1/customers/{stored['id']}")).json()
    assert customer["name"] == "Grace" and customer["email"] == "grace@example.com"
    assert ("email", "grace@example.com") in [(i["kind"], i["value"]) for i in customer["identities"]]
    assert ack["message"]["body"] == "hi"


async def test_offline_hours_collect_an_email_and_the_conversation_continues_by_email(
    server: LiveServer, api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    settings = (
        await api.put(
            "/v1/channels/webchat/settings",
            json={"business_hours": closed_now(), "offline_message": "Back at 9. Leave your email."},
        )
    ).json()
    async with agent(server, tenant) as desk, visitor(server, settings["widget_key"]) as (chat, welcome):
        assert welcome["online"] is False
        assert welcome["offline_message"] == "Back at 9. Leave your email."
        await chat.send({"type": "message", "client_id": "late", "body": "anyone there?"})
        ack = await chat.expect("ack")
        offline = await chat.expect("offline")
        assert offline["ask"] == "email" and offline["message"] == "Back at 9. Leave your email."
        await chat.send({"type": "contact", "email": "night@example.com"})
        saved = await chat.expect("contact_saved")
        assert saved["continues_by"] == "email"
        moved = [f for f in chat.seen if f.get("event") == "channel_changed"] or [
            await chat.expect("conversation", event="channel_changed")
        ]
        assert moved[0]["event"] == "channel_changed" and moved[0]["data"]["to_channel"] == "email"
        await desk.expect("conversation", event="channel_changed")
    conversation = (await api.get(f"/v1/conversations/{ack['message']['conversation_id']}")).json()
    assert conversation["channel"] == "email" and conversation["origin_channel"] == "webchat"
    customer = (await api.get(f"/v1/customers/{conversation['customer_id']}")).json()
    assert customer["email"] == "night@example.com"
    # An agent's reply is now a message of the email channel (sent by the email channel's reply path).
    reply = await api.post(
        f"/v1/conversations/{conversation['id']}/messages", json={"direction": "outbound", "body": "Morning!"}
    )
    assert reply.json()["channel"] == "email"


async def test_attachments_upload_then_travel_in_a_message_and_big_ones_are_refused(
    server: LiveServer, widget: dict[str, Any], runtime: Runtime, tenant: TenantKey
) -> None:
    async with agent(server, tenant) as desk, visitor(server, widget["widget_key"]) as (chat, welcome):
        params = {"widget_key": widget["widget_key"], "visitor_id": welcome["visitor_id"]}
        async with httpx.AsyncClient(base_url=server.url) as http:
            uploaded = await http.post(
                "/widget/v1/uploads",
                params=params,
                files={"file": ("receipt.pdf", b"%PDF-1.7 bytes", "application/pdf")},
            )
            assert uploaded.status_code == 201, uploaded.text
            attachment = uploaded.json()
            assert attachment["name"] == "receipt.pdf" and attachment["size"] == 14
            assert uploaded.headers["access-control-allow-origin"] == "*"
            stored = local_file_store(runtime.settings.data_dir)
            assert attachment["url"] == f"/v1/files/{attachment['id']}/content"
            assert attachment["content_type"] == "application/pdf"
            assert stored.get(key_of(b"%PDF-1.7 bytes")) == b"%PDF-1.7 bytes"

            too_big = await http.post(
                "/widget/v1/uploads",
                params=params,
                files={"file": ("big.bin", b"0" * (MAX_UPLOAD_BYTES + 1))},
            )
            assert too_big.status_code == 413
            assert too_big.json()["code"] == "attachment_too_large"
            assert "10485760 bytes (10 MiB)" in too_big.json()["detail"]
            stranger = await http.post(
                "/widget/v1/uploads",
                params={**params, "visitor_id": "v_unknown"},
                files={"file": ("a.txt", b"x")},
            )
            assert stranger.status_code == 403

            await chat.send({"type": "message", "client_id": "f", "body": "", "attachments": [attachment]})
            ack = await chat.expect("ack")
            (acked,) = ack["message"]["attachments"]
            assert {k: v for k, v in acked.items() if k != "download_url"} == attachment
            assert (await desk.expect("message"))["message"]["attachments_count"] == 1
            download = await http.get(acked["download_url"])
            assert download.status_code == 200 and download.content == b"%PDF-1.7 bytes"
            assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''receipt.pdf"

            # An agent's reply with the file: live frames count attachments, the messages endpoint lists them.
            await desk.send(
                {
                    "type": "message",
                    "conversation_id": ack["message"]["conversation_id"],
                    "client_id": "a-f",
                    "body": "your label",
                    "attachments": [attachment],
                }
            )
            live = (await chat.expect("message"))["message"]
            assert live["attachments_count"] == 1
            listed = await http.get("/widget/v1/messages", params={**params, "after": ack["message"]["id"]})
            (listed_attachment,) = listed.json()["data"][0]["attachments"]
            assert listed_attachment["url"] == attachment["url"] and listed_attachment["download_url"]
            refused = await http.get("/widget/v1/messages", params={**params, "visitor_id": "v_nobody"})
            assert refused.status_code == 403

        forged = {**attachment, "url": "cxstack-file://sha256/" + "ab" * 32}
        await chat.send({"type": "message", "client_id": "g", "body": "", "attachments": [forged]})
        error = await chat.expect("error")
        assert error["code"] == "attachment_unknown" and error["client_id"] == "g"


@pytest.mark.parametrize("path", ["/widget/v1.js", "/widget/v1/widget.js"])
async def test_widget_scripts_are_served_as_javascript(server: LiveServer, path: str) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "cxstack" in response.text


async def test_two_first_visits_of_one_signed_in_user_at_once_make_one_visitor(
    server: LiveServer, widget: dict[str, Any], api: httpx.AsyncClient
) -> None:
    user_hash = signed(widget["identity_secret"], "user-77")

    async def hello() -> str:
        async with visitor(server, widget["widget_key"], user_id="user-77", user_hash=user_hash) as (
            _,
            welcome,
        ):
            visitor_id: str = welcome["visitor_id"]
            return visitor_id

    first, second = await asyncio.gather(hello(), hello())
    assert first == second
    found = (await api.get("/v1/customers")).json()["data"]
    assert len(found) == 1


async def test_an_unsigned_hello_where_sign_in_is_required_is_refused_and_audited_with_its_visitor_id(
    server: LiveServer, api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    settings = (await api.put("/v1/channels/webchat/settings", json={"require_verified": True})).json()
    visitor_id = "v_" + "x" * 32
    async with connect(server.ws_url + "/ws/webchat") as socket:
        await socket.send({"type": "hello", "widget_key": settings["widget_key"], "visitor_id": visitor_id})
        error = await socket.expect("error")
        assert error["code"] == "identity_invalid" and "signed-in users only" in error["detail"]
        with pytest.raises(ConnectionClosed):
            await socket.next()
    entries = await runtime.db.read(lambda session: list(list_audit(session, tenant_id=tenant.tenant_id)))
    rejected = [e for e in entries if e.action == "webchat.identity_rejected"]
    assert [e.detail["visitor_id"] for e in rejected] == [visitor_id]
