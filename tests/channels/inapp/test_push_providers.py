"""Replies pushed straight to app users' devices: Android and web through FCM's HTTP v1 API with the
tenant's service account, iOS through APNs' HTTP/2 API with the tenant's signing key, each against an
in-process fake that speaks the provider's wire format and checks its authentication."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tests.channels.inapp.conftest import FakePushService, user_headers
from tests.channels.inapp.fake_apns import ApnsServer, FakeApns
from tests.channels.inapp.fake_fcm import FakeGoogle
from tests.channels.webchat.conftest import serving
from tests.conftest import TenantKey

from cxstack.backbone.log import read_events
from cxstack.channels.inapp.plugins.apns import ApnsPushProvider
from cxstack.channels.inapp.plugins.base import Device, DeviceUnregistered, PushNotification, PushUnavailable
from cxstack.channels.inapp.plugins.fcm import FcmPushProvider
from cxstack.config import InappSettings, Settings
from cxstack.runtime import Runtime

KEY_ID = "ABC123DEFG"
TEAM_ID = "TEAM456XYZ"
TOPIC = "com.acme.app"


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass
class ApnsKey:
    key_id: str
    team_id: str
    pem: str


@pytest.fixture(scope="session")
def certificate_authority(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[trustme.CA, Path]]:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("apns-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    yield ca, path


@pytest.fixture
async def fake_google() -> AsyncIterator[FakeGoogle]:
    google = FakeGoogle()
    async with serving(google.app()) as url:
        google.url = url
        yield google


@pytest.fixture
async def fake_apns(certificate_authority: tuple[trustme.CA, Path]) -> AsyncIterator[FakeApns]:
    state = FakeApns()
    server = ApnsServer(state, certificate_authority[0])
    await server.start()
    try:
        yield state
    finally:
        await server.stop()


@pytest.fixture
def apns_key(fake_apns: FakeApns) -> ApnsKey:
    key = ec.generate_private_key(ec.SECP256R1())
    fake_apns.add_key(KEY_ID, TEAM_ID, key.public_key(), TOPIC)
    return ApnsKey(KEY_ID, TEAM_ID, _pem(key))


@pytest.fixture
def settings(
    settings: Settings,
    fake_google: FakeGoogle,
    fake_apns: FakeApns,
    certificate_authority: tuple[trustme.CA, Path],
) -> Settings:
    """cxstack's settings, with pushes going to the fake FCM and the fake APNs (trusting its CA)."""
    inapp = InappSettings(
        fcm_api_url=fake_google.url,
        fcm_token_url=fake_google.token_uri,
        apns_url=fake_apns.url,
        apns_sandbox_url=fake_apns.sandbox_url,
        apns_ca_file=str(certificate_authority[1]),
    )
    return settings.model_copy(update={"inapp": inapp})


@pytest.fixture
async def app(api: httpx.AsyncClient) -> dict[str, Any]:
    """The tenant's in-app settings: no push URL of its own."""
    response = await api.put("/v1/channels/inapp/settings", json={})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def push_settings(
    api: httpx.AsyncClient, app: dict[str, Any], fake_google: FakeGoogle, apns_key: ApnsKey
) -> dict[str, Any]:
    response = await api.put(
        "/v1/channels/inapp/push",
        json={
            "fcm_service_account": fake_google.service_account("acme-app"),
            "apns_key_id": apns_key.key_id,
            "apns_team_id": apns_key.team_id,
            "apns_private_key": apns_key.pem,
            "apns_topic": TOPIC,
            "apns_sandbox": True,
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ios_token() -> str:
    return secrets.token_hex(32)


def android_token() -> str:
    return "fcm:APA91b" + secrets.token_urlsafe(100)


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


async def _register(client: httpx.AsyncClient, headers: dict[str, str], platform: str, token: str) -> None:
    response = await client.put(
        "/v1/inapp/devices", headers=headers, json={"platform": platform, "token": token}
    )
    assert response.status_code == 204, response.text


async def _devices(client: httpx.AsyncClient, headers: dict[str, str]) -> list[tuple[str, str]]:
    response = await client.get("/v1/inapp/devices", headers=headers)
    assert response.status_code == 200, response.text
    return [(d["platform"], d["token"]) for d in response.json()["data"]]


async def _conversation(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    sent = await client.post("/v1/inapp/messages", headers=headers, json={"client_id": "c1", "body": "Help"})
    assert sent.status_code == 201, sent.text
    conversation_id: str = sent.json()["conversation_id"]
    return conversation_id


async def _reply(api: httpx.AsyncClient, conversation_id: str, body: str) -> dict[str, Any]:
    reply = await api.post(
        f"/v1/conversations/{conversation_id}/messages", json={"direction": "outbound", "body": body}
    )
    assert reply.status_code == 201, reply.text
    message: dict[str, Any] = reply.json()
    return message


async def test_an_agents_reply_is_pushed_to_the_users_android_and_ios_devices_with_valid_credentials(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    app: dict[str, Any],
    push_settings: dict[str, Any],
    fake_google: FakeGoogle,
    fake_apns: FakeApns,
    runtime: Runtime,
) -> None:
    headers = user_headers(app, "user-1")
    android, iphone = android_token(), ios_token()
    await _register(client, headers, "android", android)
    await _register(client, headers, "android", android)  # the app registers on every start
    await _register(client, headers, "ios", iphone)
    assert await _devices(client, headers) == [("android", android), ("ios", iphone)]
    conversation_id = await _conversation(client, headers)

    reply = await _reply(api, conversation_id, "We're on it")

    async def both_pushed() -> bool:
        return bool(fake_google.delivered() and fake_apns.delivered())

    await _until(both_pushed)
    (fcm,) = fake_google.delivered()
    assert fcm.project_id == "acme-app"
    assert fcm.client_email == push_settings["fcm_client_email"]  # the Bearer token was the account's
    assert fcm.message == {
        "token": android,
        "notification": {"title": "New reply", "body": "We're on it"},
        "data": {
            "type": "inapp.reply",
            "conversation_id": conversation_id,
            "message_id": reply["id"],
            "user_id": "user-1",
        },
    }
    (apns,) = fake_apns.delivered()
    assert apns.team_id == TEAM_ID  # the provider token verified against the key's public half
    assert apns.authority == fake_apns.sandbox_url.removeprefix("https://")  # apns_sandbox is set
    assert apns.path == f"/3/device/{iphone}"
    assert apns.headers["apns-topic"] == TOPIC
    assert apns.headers["apns-push-type"] == "alert"
    assert apns.headers["apns-priority"] == "10"
    assert int(apns.headers["apns-expiration"]) > 0
    assert apns.body["aps"] == {
        "alert": {"title": "New reply", "body": "We're on it"},
        "sound": "default",
        "thread-id": conversation_id,
    }
    assert apns.body["message_id"] == reply["id"]

    async def recorded() -> list[dict[str, Any]]:
        sent = await _events(runtime, "inapp.push_sent")
        return sent if len(sent) == 2 else []

    assert sorted(e["provider"] for e in await _until(recorded)) == ["apns", "fcm"]

    # A second reply reuses the access token and the provider token, on the same HTTP/2 connection.
    await _reply(api, conversation_id, "Fixed!")

    async def pushed_again() -> bool:
        return len(fake_google.delivered()) == 2 and len(fake_apns.delivered()) == 2

    await _until(pushed_again)
    assert fake_google.token_requests == 1
    first, second = fake_apns.delivered()
    assert first.provider_token == second.provider_token
    assert fake_apns.connections == 1
    assert fake_google.delivered()[1].message["notification"]["body"] == "Fixed!"

    # The process stopping lets go of that connection.
    assert fake_apns.closed == 0
    await runtime.effects.aclose()

    async def closed() -> bool:
        return fake_apns.closed == 1

    await _until(closed)


async def test_a_token_the_provider_no_longer_knows_is_removed_from_the_user(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    app: dict[str, Any],
    push_settings: dict[str, Any],
    fake_google: FakeGoogle,
    fake_apns: FakeApns,
    runtime: Runtime,
) -> None:
    headers = user_headers(app, "user-2")
    uninstalled, kept, old_iphone = android_token(), android_token(), ios_token()
    fake_google.unregistered.add(uninstalled)
    fake_apns.unregistered.add(old_iphone)
    for platform, token in (("android", uninstalled), ("web", kept), ("ios", old_iphone)):
        await _register(client, headers, platform, token)
    conversation_id = await _conversation(client, headers)
    reply = await _reply(api, conversation_id, "Hello?")

    async def removed() -> list[dict[str, Any]]:
        found = await _events(runtime, "inapp.device_removed")
        return found if len(found) == 2 else []

    gone = await _until(removed)
    assert sorted((e["platform"], e["reason"], e["user_id"]) for e in gone) == [
        ("android", "UNREGISTERED", "user-2"),
        ("ios", "Unregistered", "user-2"),
    ]
    assert {e["token_suffix"] for e in gone} == {uninstalled[-6:], old_iphone[-6:]}
    assert await _devices(client, headers) == [("web", kept)]
    assert [m.message["token"] for m in fake_google.delivered()] == [kept]
    failed = await _events(runtime, "inapp.push_failed")
    assert {f["message_id"] for f in failed} == {reply["id"]} and len(failed) == 2

    # The next reply goes to the device that is left only.
    await _reply(api, conversation_id, "Still there?")

    async def next_pushed() -> bool:
        return len(fake_google.delivered()) == 2

    await _until(next_pushed)
    await asyncio.sleep(0.3)
    assert len(fake_apns.requests) == 1
    assert [m.message["token"] for m in fake_google.messages].count(uninstalled) == 1


async def test_an_invalid_token_is_removed_too(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    app: dict[str, Any],
    push_settings: dict[str, Any],
    fake_google: FakeGoogle,
    runtime: Runtime,
) -> None:
    headers = user_headers(app, "user-3")
    bad = "not-a-real-fcm-token"
    fake_google.invalid.add(bad)
    await _register(client, headers, "android", bad)
    await _reply(api, await _conversation(client, headers), "Hi")

    async def removed() -> list[dict[str, Any]]:
        return await _events(runtime, "inapp.device_removed")

    assert (await _until(removed))[0]["reason"] == "INVALID_ARGUMENT"
    assert await _devices(client, headers) == []


async def test_a_provider_failing_on_its_side_is_tried_again_until_delivered(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    app: dict[str, Any],
    push_settings: dict[str, Any],
    fake_google: FakeGoogle,
    fake_apns: FakeApns,
    runtime: Runtime,
) -> None:
    fake_google.answers = [(503, "1"), (500, None)]
    fake_apns.answers = [(503, "ServiceUnavailable"), (429, "TooManyRequests")]
    headers = user_headers(app, "user-4")
    android, iphone = android_token(), ios_token()
    await _register(client, headers, "android", android)
    await _register(client, headers, "ios", iphone)
    await _reply(api, await _conversation(client, headers), "Eventually")

    async def delivered() -> bool:
        return bool(fake_google.delivered() and fake_apns.delivered())

    await _until(delivered)
    assert [m.status for m in fake_google.messages] == [503, 500, 200]
    assert [r.status for r in fake_apns.requests] == [503, 429, 200]

    async def recorded() -> list[dict[str, Any]]:
        sent = await _events(runtime, "inapp.push_sent")
        return sent if len(sent) == 2 else []

    await _until(recorded)
    assert await _events(runtime, "inapp.push_failed") == []
    assert await _devices(client, headers) == [("android", android), ("ios", iphone)]


async def test_expired_credentials_are_renewed_once_and_dead_tokens_reported(
    fake_google: FakeGoogle, fake_apns: FakeApns, apns_key: ApnsKey, certificate_authority: tuple[Any, Path]
) -> None:
    fcm = FcmPushProvider(api_url=fake_google.url, token_url=fake_google.token_uri)
    apns = ApnsPushProvider(sandbox_url=fake_apns.sandbox_url, ca_file=str(certificate_authority[1]))
    account = fake_google.service_account("acme-app")
    android, iphone = android_token(), ios_token()

    def note(device: Device, credentials: dict[str, str]) -> PushNotification:
        return PushNotification(
            tenant_id="t",
            user_id="u",
            conversation_id="cnv_1",
            message_id="msg_1",
            title="New reply",
            body="Hi",
            devices=(device,),
            credentials=credentials,
        )

    fcm_credentials = {"service_account": orjson.dumps(account).decode()}
    assert (await fcm.send(note(Device("android", android), fcm_credentials))).delivered_to == 1
    fake_google.revoke_tokens()  # as if the access token had been revoked: 401, then a new one
    await fcm.send(note(Device("android", android), fcm_credentials))
    assert fake_google.token_requests == 2
    assert [m.status for m in fake_google.messages] == [200, 200]

    apns_credentials = {
        "key_id": apns_key.key_id,
        "team_id": apns_key.team_id,
        "private_key": apns_key.pem,
        "topic": TOPIC,
        "sandbox": "true",
    }
    await apns.send(note(Device("ios", iphone), apns_credentials))
    fake_apns.expired_tokens.add(fake_apns.requests[0].provider_token)
    await apns.send(note(Device("ios", iphone), apns_credentials))
    assert [r.status for r in fake_apns.requests] == [200, 403, 200]
    assert fake_apns.requests[2].provider_token != fake_apns.requests[0].provider_token

    with pytest.raises(DeviceUnregistered) as bad_token:
        await apns.send(note(Device("ios", "beef" * 4), apns_credentials))
    assert bad_token.value.reason == "BadDeviceToken"
    fake_apns.answers = [(503, "ServiceUnavailable")]
    with pytest.raises(PushUnavailable):
        await apns.send(note(Device("ios", iphone), apns_credentials))
    fake_google.answers = [(429, "30")]
    with pytest.raises(PushUnavailable) as throttled:
        await fcm.send(note(Device("android", android), fcm_credentials))
    assert throttled.value.retry_after_s == 30
    await apns.aclose()


async def test_push_settings_keep_secrets_and_refuse_bad_credentials_naming_the_field(
    api: httpx.AsyncClient,
    app: dict[str, Any],
    fake_google: FakeGoogle,
    apns_key: ApnsKey,
    other_tenant: TenantKey,
) -> None:
    empty = (await api.get("/v1/channels/inapp/push")).json()
    assert empty["fcm_service_account"] is None and empty["apns_private_key"] is None
    account = fake_google.service_account("acme-app")
    bad_settings: list[tuple[dict[str, Any], str, str]] = [
        ({"fcm_service_account": "{not json"}, "fcm_service_account", "not JSON"),
        ({"fcm_service_account": {**account, "private_key": "garbage"}}, "fcm_service_account", "PEM"),
        ({"fcm_service_account": {**account, "private_key": apns_key.pem}}, "fcm_service_account", "RSA"),
        (
            {"fcm_service_account": {**account, "token_uri": "http://169.254.169.254/token"}},
            "fcm_service_account",
            "token_uri",
        ),
        (
            {"fcm_service_account": {k: v for k, v in account.items() if k != "client_email"}},
            "fcm_service_account",
            "client_email",
        ),
        (
            {
                "apns_key_id": KEY_ID,
                "apns_team_id": TEAM_ID,
                "apns_private_key": "-----BEGIN PRIVATE KEY-----",
            },
            "apns_private_key",
            "PEM",
        ),
        (
            {
                "apns_key_id": KEY_ID,
                "apns_team_id": TEAM_ID,
                "apns_private_key": _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            },
            "apns_private_key",
            "P-256",
        ),
        ({"apns_private_key": apns_key.pem, "apns_team_id": TEAM_ID}, "apns_key_id", "apns_key_id"),
    ]
    for body, field, words in bad_settings:
        refused = await api.put("/v1/channels/inapp/push", json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["field"] == field, refused.text
        assert words in refused.json()["detail"], refused.text
    bad_key_id = await api.put("/v1/channels/inapp/push", json={"apns_key_id": "short"})
    assert bad_key_id.status_code == 422 and "apns_key_id" in bad_key_id.text
    assert (await api.get("/v1/channels/inapp/push")).json() == empty  # nothing half-written

    saved = await api.put(
        "/v1/channels/inapp/push",
        json={
            "fcm_service_account": account,
            "apns_key_id": KEY_ID,
            "apns_team_id": TEAM_ID,
            "apns_private_key": apns_key.pem,
            "apns_topic": TOPIC,
        },
    )
    assert saved.status_code == 200, saved.text
    shown = (await api.get("/v1/channels/inapp/push")).json()
    assert shown["fcm_service_account"] == "********" and shown["apns_private_key"] == "********"
    assert (shown["fcm_project_id"], shown["fcm_client_email"]) == ("acme-app", account["client_email"])
    assert (shown["apns_key_id"], shown["apns_team_id"], shown["apns_topic"]) == (KEY_ID, TEAM_ID, TOPIC)
    assert shown["apns_sandbox"] is False
    assert account["private_key"].splitlines()[1] not in saved.text + str(shown)
    assert apns_key.pem.splitlines()[1] not in saved.text + str(shown)

    # Fields left out keep their value; null removes one.
    changed = (await api.put("/v1/channels/inapp/push", json={"fcm_service_account": None})).json()
    assert changed["fcm_service_account"] is None and changed["fcm_project_id"] is None
    assert changed["apns_private_key"] == "********"
    theirs = (await api.get("/v1/channels/inapp/push", headers=other_tenant.headers)).json()
    assert theirs["apns_private_key"] is None and theirs["apns_key_id"] is None


async def test_an_ios_app_on_firebase_messaging_registers_fcm_tokens_and_is_pushed_through_fcm(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    app: dict[str, Any],
    push_settings: dict[str, Any],
    fake_google: FakeGoogle,
    fake_apns: FakeApns,
    runtime: Runtime,
) -> None:
    headers = user_headers(app, "user-8")
    firebase_iphone = android_token()  # an FCM registration token, issued on iOS
    registered = await client.put(
        "/v1/inapp/devices",
        headers=headers,
        json={"platform": "ios", "token": firebase_iphone, "provider": "fcm"},
    )
    assert registered.status_code == 204, registered.text
    listed = (await client.get("/v1/inapp/devices", headers=headers)).json()["data"]
    assert [(d["platform"], d["provider"]) for d in listed] == [("ios", "fcm")]
    conversation_id = await _conversation(client, headers)
    await _reply(api, conversation_id, "Through Firebase")

    async def pushed() -> bool:
        return bool(fake_google.delivered())

    await _until(pushed)
    (message,) = fake_google.delivered()
    assert message.message["token"] == firebase_iphone
    assert message.message["notification"] == {"title": "New reply", "body": "Through Firebase"}
    assert message.message["apns"] == {"payload": {"aps": {"sound": "default", "thread-id": conversation_id}}}
    await asyncio.sleep(0.3)
    assert fake_apns.requests == []

    # APNs issues iOS tokens only: an Android device claiming one is refused, naming the mistake.
    refused = await client.put(
        "/v1/inapp/devices",
        headers=headers,
        json={"platform": "android", "token": ios_token(), "provider": "apns"},
    )
    assert refused.status_code == 422, refused.text
    assert "provider apns issues iOS device tokens only" in refused.text
    assert len((await client.get("/v1/inapp/devices", headers=headers)).json()["data"]) == 1


async def test_an_unregistered_device_gets_no_more_pushes(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    app: dict[str, Any],
    push_settings: dict[str, Any],
    fake_google: FakeGoogle,
    fake_apns: FakeApns,
    runtime: Runtime,
) -> None:
    headers = user_headers(app, "user-5")
    phone, tablet = android_token(), ios_token()
    await _register(client, headers, "android", phone)
    await _register(client, headers, "ios", tablet)
    other = user_headers(app, "user-6")
    # Another user cannot unregister this user's device.
    assert (await client.delete(f"/v1/inapp/devices/{tablet}", headers=other)).status_code == 204
    assert (await client.delete(f"/v1/inapp/devices/{tablet}", headers=headers)).status_code == 204
    assert (await client.delete(f"/v1/inapp/devices/{tablet}", headers=headers)).status_code == 204
    assert await _devices(client, headers) == [("android", phone)]
    await _reply(api, await _conversation(client, headers), "Only the phone")

    async def pushed() -> bool:
        return bool(fake_google.delivered())

    await _until(pushed)
    await asyncio.sleep(0.3)
    assert fake_apns.requests == []


async def test_devices_of_a_platform_without_credentials_still_go_to_the_push_url(
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    app: dict[str, Any],
    apns_key: ApnsKey,
    fake_apns: FakeApns,
    push_service: FakePushService,
    runtime: Runtime,
) -> None:
    configured = await api.put(
        "/v1/channels/inapp/push",
        json={
            "apns_key_id": apns_key.key_id,
            "apns_team_id": apns_key.team_id,
            "apns_private_key": apns_key.pem,
            "apns_topic": TOPIC,
        },
    )
    assert configured.status_code == 200, configured.text
    await api.put("/v1/channels/inapp/settings", json={"push_url": push_service.url})
    headers = user_headers(app, "user-7")
    android, iphone = android_token(), ios_token()
    await _register(client, headers, "android", android)
    await _register(client, headers, "ios", iphone)
    await _reply(api, await _conversation(client, headers), "Both ways")

    async def pushed() -> bool:
        return bool(push_service.received and fake_apns.delivered())

    await _until(pushed)
    (posted,) = push_service.notifications()
    assert posted["devices"] == [{"platform": "android", "provider": "fcm", "token": android}]
    (apns,) = fake_apns.delivered()
    assert apns.authority == fake_apns.url.removeprefix("https://")  # production: apns_sandbox unset
    assert apns.path == f"/3/device/{iphone}"
