"""The in-app channel: the app API with signed users, its socket, and replies pushed to users who have no
socket open."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tests.channels.inapp.conftest import FakePushService, signature_of, user_headers
from tests.channels.webchat.conftest import LiveServer, agent, connect
from tests.conftest import TenantKey
from websockets.exceptions import ConnectionClosed

from cxstack.backbone.effects import EffectJob
from cxstack.backbone.log import read_events
from cxstack.channels.inapp.plugins.base import PushUnavailable
from cxstack.channels.inapp.plugins.recording import RecordingPushProvider
from cxstack.channels.inapp.service import PushSender
from cxstack.channels.webchat.repository import WebchatRepository
from cxstack.governance.audit.service import list_audit
from cxstack.runtime import Runtime


async def _events(runtime: Runtime, kind: str) -> list[dict[str, Any]]:
    events = await runtime.db.read(lambda session: read_events(session, after=0, limit=10_000))
    return [event.data for event in events if event.type == kind]


async def _until(check: Any, timeout_s: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_app_user_sends_and_reads_messages_with_signed_headers(
    api: httpx.AsyncClient, client: httpx.AsyncClient, app_settings: dict[str, Any]
) -> None:
    assert app_settings["widget_key"].startswith("ak_")
    assert app_settings["require_verified"] is True
    headers = user_headers(app_settings, "user-1")
    empty = await client.get("/v1/inapp/messages", headers=headers)
    assert empty.status_code == 200 and empty.json() == {"conversation_id": None, "data": []}

    first = await client.post(
        "/v1/inapp/messages", headers=headers, json={"client_id": "a", "body": "Hi app"}
    )
    assert first.status_code == 201, first.text
    again = await client.post(
        "/v1/inapp/messages", headers=headers, json={"client_id": "a", "body": "Hi app"}
    )
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    second = await client.post("/v1/inapp/messages", headers=headers, json={"client_id": "b", "body": "More"})

    listed = (await client.get("/v1/inapp/messages", headers=headers)).json()
    assert [m["body"] for m in listed["data"]] == ["Hi app", "More"]
    after = (
        await client.get("/v1/inapp/messages", headers=headers, params={"after": first.json()["id"]})
    ).json()
    assert [m["id"] for m in after["data"]] == [second.json()["id"]]

    conversation = (await api.get(f"/v1/conversations/{listed['conversation_id']}")).json()
    assert conversation["channel"] == "inapp"
    customer = (await api.get(f"/v1/customers/{conversation['customer_id']}")).json()
    assert [(i["kind"], i["system"], i["value"]) for i in customer["identities"]] == [
        ("external", "app", "user-1")
    ]


async def test_an_app_user_downloads_their_attachment_through_its_signed_link_only(
    client: httpx.AsyncClient, app_settings: dict[str, Any]
) -> None:
    headers = user_headers(app_settings, "user-files")
    uploaded = await client.post("/v1/inapp/uploads", headers=headers, files={"file": ("bill.pdf", b"%PDF")})
    assert uploaded.status_code == 201, uploaded.text
    sent = await client.post(
        "/v1/inapp/messages",
        headers=headers,
        json={"client_id": "f", "body": "my bill", "attachments": [uploaded.json()]},
    )
    assert sent.status_code == 201, sent.text
    listed = (await client.get("/v1/inapp/messages", headers=headers)).json()
    for message in (sent.json(), listed["data"][0]):
        link = message["attachments"][0]["download_url"]
        assert link.startswith("http://cxstack.test/widget/v1/files/")
        download = await client.get(link)
        assert download.status_code == 200 and download.content == b"%PDF"
    # The file's id alone opens nothing.
    file_id = uploaded.json()["id"]
    bare = await client.get(f"/widget/v1/files/{file_id}", params={"widget_key": app_settings["widget_key"]})
    assert bare.status_code == 403 and bare.json()["code"] == "file_link_invalid"


async def test_wrong_or_missing_signature_is_refused_and_audited(
    client: httpx.AsyncClient, app_settings: dict[str, Any], runtime: Runtime, tenant: TenantKey
) -> None:
    missing = await client.get("/v1/inapp/messages", headers={"X-App-Key": app_settings["widget_key"]})
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("application/problem+json")
    forged = await client.post(
        "/v1/inapp/messages",
        headers=user_headers(app_settings, "user-1", user_hash="ab" * 32),
        json={"client_id": "x", "body": "let me in"},
    )
    assert forged.status_code == 403 and forged.json()["code"] == "identity_invalid"
    unknown = await client.get(
        "/v1/inapp/messages", headers={**user_headers(app_settings, "u"), "X-App-Key": "ak_no"}
    )
    assert unknown.status_code == 401
    entries = await runtime.db.read(lambda session: list(list_audit(session, tenant_id=tenant.tenant_id)))
    assert [e.detail["user_id"] for e in entries if e.action == "inapp.identity_rejected"] == ["user-1"]


async def test_in_app_socket_speaks_the_chat_protocol_for_signed_users_only(
    server: LiveServer, app_settings: dict[str, Any], tenant: TenantKey
) -> None:
    headers = user_headers(app_settings, "user-9")
    hello = {"user_id": "user-9", "user_hash": headers["X-User-Hash"]}
    async with agent(server, tenant) as desk:
        async with connect(server.ws_url + "/ws/inapp") as socket:
            await socket.send({"type": "hello", "widget_key": app_settings["widget_key"], **hello})
            welcome = await socket.expect("welcome")
            assert welcome["verified"] is True
            await socket.send({"type": "message", "client_id": "s1", "body": "from the app"})
            ack = await socket.expect("ack")
            arrived = await desk.expect("message")
            assert arrived["message"]["id"] == ack["message"]["id"]
            assert arrived["message"]["channel"] == "inapp"
        # An anonymous hello is refused: the app's users are signed in.
        async with connect(server.ws_url + "/ws/inapp") as socket:
            await socket.send({"type": "hello", "widget_key": app_settings["widget_key"]})
            assert (await socket.expect("error"))["code"] == "identity_invalid"
            with pytest.raises(ConnectionClosed):
                await socket.next()
        # A webchat widget key does not open the in-app socket, nor the reverse.
        async with connect(server.ws_url + "/ws/webchat") as socket:
            await socket.send({"type": "hello", "widget_key": app_settings["widget_key"]})
            assert (await socket.expect("error"))["code"] == "widget_key_unknown"


async def test_a_reply_is_pushed_to_a_user_with_no_socket_open_and_not_to_one_with_a_socket(
    server: LiveServer,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    app_settings: dict[str, Any],
    push_service: FakePushService,
    runtime: Runtime,
) -> None:
    headers = user_headers(app_settings, "user-5")
    device = await client.put(
        "/v1/inapp/devices", headers=headers, json={"platform": "ios", "token": "apns-token-1"}
    )
    assert device.status_code == 204
    bad_device = await client.put(
        "/v1/inapp/devices", headers=headers, json={"platform": "nokia", "token": "x" * 9}
    )
    assert bad_device.status_code == 422
    sent = (
        await client.post("/v1/inapp/messages", headers=headers, json={"client_id": "q", "body": "Help"})
    ).json()
    conversation_id = sent["conversation_id"]

    reply = await api.post(
        f"/v1/conversations/{conversation_id}/messages", json={"direction": "outbound", "body": "We're on it"}
    )
    assert reply.status_code == 201

    async def pushed() -> list[Any]:
        return push_service.received

    await _until(pushed)
    headers_seen, body = push_service.received[0]
    notification = push_service.notifications()[0]
    assert notification["user_id"] == "user-5"
    assert notification["body"] == "We're on it"
    assert notification["message_id"] == reply.json()["id"]
    assert notification["devices"] == [{"platform": "ios", "provider": "apns", "token": "apns-token-1"}]
    assert headers_seen["x-cxstack-signature"] == signature_of(app_settings["identity_secret"], body)

    async def push_recorded() -> list[dict[str, Any]]:
        return await _events(runtime, "inapp.push_sent")

    assert (await _until(push_recorded))[0]["message_id"] == reply.json()["id"]

    # With the app's socket open, the reply arrives there and nothing is pushed.
    hello = {"user_id": "user-5", "user_hash": headers["X-User-Hash"]}
    async with connect(server.ws_url + "/ws/inapp") as socket:
        await socket.send({"type": "hello", "widget_key": app_settings["widget_key"], **hello})
        await socket.expect("welcome")
        live = await api.post(
            f"/v1/conversations/{conversation_id}/messages", json={"direction": "outbound", "body": "Fixed!"}
        )
        assert (await socket.expect("message"))["message"]["id"] == live.json()["id"]
        await asyncio.sleep(0.5)
    assert len(push_service.received) == 1


async def test_a_refused_push_is_recorded_as_failed(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    app_settings: dict[str, Any],
    push_service: FakePushService,
    runtime: Runtime,
) -> None:
    push_service.answers = [400]
    headers = user_headers(app_settings, "user-6")
    await client.put(
        "/v1/inapp/devices", headers=headers, json={"platform": "android", "token": "fcm-token-123"}
    )
    sent = (
        await client.post("/v1/inapp/messages", headers=headers, json={"client_id": "q", "body": "?"})
    ).json()
    await api.post(
        f"/v1/conversations/{sent['conversation_id']}/messages", json={"direction": "outbound", "body": "!"}
    )

    async def failed() -> list[dict[str, Any]]:
        return await _events(runtime, "inapp.push_failed")

    recorded = await _until(failed)
    assert recorded[0]["user_id"] == "user-6" and "400" in recorded[0]["reason"]


async def test_push_plugin_test_double_gets_the_notification_and_failures_are_retried(
    client: httpx.AsyncClient, app_settings: dict[str, Any], runtime: Runtime, tenant: TenantKey
) -> None:
    headers = user_headers(app_settings, "user-8")
    await client.put(
        "/v1/inapp/devices", headers=headers, json={"platform": "web", "token": "web-push-token"}
    )
    sent = (
        await client.post("/v1/inapp/messages", headers=headers, json={"client_id": "q", "body": "?"})
    ).json()
    found = await runtime.db.read(
        lambda session: WebchatRepository(session, tenant.tenant_id).visitor_of_user("user-8", "inapp")
    )
    assert found is not None
    job = EffectJob(
        id="eff_1",
        tenant_id=tenant.tenant_id,
        kind="inapp.push",
        key=f"msg_x:{found.id}",
        payload={
            "conversation_id": sent["conversation_id"],
            "message_id": "msg_x",
            "visitor_id": found.id,
            "user_id": "user-8",
            "body": "Answer",
        },
        attempt=1,
        correlation_id="c",
    )
    provider = RecordingPushProvider()
    provider.fail_next = 1
    sender = PushSender(provider)
    with pytest.raises(PushUnavailable):  # not EffectFailed: the effect runner tries again
        await sender.perform(job, runtime.db.read)
    result = await sender.perform(job, runtime.db.read)
    assert result == {"provider_id": "rec-1", "devices": 1, "provider": "recording"}
    (notification,) = provider.sent
    assert (notification.user_id, notification.body, notification.push_url) == (
        "user-8",
        "Answer",
        app_settings["push_url"],
    )
    assert [(d.platform, d.token) for d in notification.devices] == [("web", "web-push-token")]


async def test_one_tenants_app_users_never_see_anothers(
    client: httpx.AsyncClient, app_settings: dict[str, Any], other_tenant: TenantKey
) -> None:
    other = (await client.put("/v1/channels/inapp/settings", json={}, headers=other_tenant.headers)).json()
    mine = user_headers(app_settings, "same-user")
    theirs = user_headers(other, "same-user")
    sent = await client.post("/v1/inapp/messages", headers=mine, json={"client_id": "a", "body": "acme only"})
    assert sent.status_code == 201
    seen = (await client.get("/v1/inapp/messages", headers=theirs)).json()
    assert seen == {"conversation_id": None, "data": []}
    device = {"platform": "android", "token": "acme-device-token"}
    assert (await client.put("/v1/inapp/devices", headers=mine, json=device)).status_code == 204
    assert (await client.get("/v1/inapp/devices", headers=theirs)).json()["data"] == []
    # Removing is idempotent (204 whatever was there), and removes nothing of another tenant's.
    assert (await client.delete("/v1/inapp/devices/acme-device-token", headers=theirs)).status_code == 204
    assert [d["token"] for d in (await client.get("/v1/inapp/devices", headers=mine)).json()["data"]] == [
        "acme-device-token"
    ]
    # Nor does one tenant's secret sign a user in at another.
    crossed = {**theirs, "X-User-Hash": mine["X-User-Hash"]}
    assert (await client.get("/v1/inapp/messages", headers=crossed)).status_code == 403


async def test_nul_in_an_app_message_is_a_422_naming_the_field(
    client: httpx.AsyncClient, app_settings: dict[str, Any]
) -> None:
    headers = user_headers(app_settings, "user-nul")
    response = await client.post(
        "/v1/inapp/messages", headers=headers, json={"client_id": "a", "body": "Hi\u0000"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "body"
    listed = (await client.get("/v1/inapp/messages", headers=headers)).json()
    assert listed["data"] == []
