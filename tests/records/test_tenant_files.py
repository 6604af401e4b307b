"""Files belong to a tenant and a conversation: the file API serves a tenant its own files only, the same
bytes from two tenants are two files, and a message attaches only files of its own tenant and
conversation, by id or by hash, never another tenant's."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.conftest import TenantKey

from cxstack.backbone.log import read_events
from cxstack.runtime import Runtime


@dataclass
class AppUser:
    """A signed-in in-app user of a tenant: the headers that speak for them."""

    tenant: TenantKey
    headers: dict[str, str]


async def app_user(client: httpx.AsyncClient, tenant: TenantKey, user_id: str) -> AppUser:
    response = await client.put("/v1/channels/inapp/settings", json={}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    app = response.json()
    user_hash = hmac.new(app["identity_secret"].encode(), user_id.encode(), hashlib.sha256).hexdigest()
    return AppUser(tenant, {"X-App-Key": app["widget_key"], "X-User-Id": user_id, "X-User-Hash": user_hash})


async def upload(
    client: httpx.AsyncClient, user: AppUser, name: str, data: bytes, kind: str
) -> dict[str, Any]:
    response = await client.post(
        "/v1/inapp/uploads", headers=user.headers, files={"file": (name, data, kind)}
    )
    assert response.status_code == 201, response.text
    uploaded: dict[str, Any] = response.json()
    return uploaded


async def send(
    client: httpx.AsyncClient, user: AppUser, client_id: str, attachments: list[Any]
) -> httpx.Response:
    return await client.post(
        "/v1/inapp/messages",
        headers=user.headers,
        json={"client_id": client_id, "body": "see attached", "attachments": attachments},
    )


async def conversation_of(client: httpx.AsyncClient, user: AppUser) -> str:
    """Return the user's conversation (started by a first message when they have none)."""
    listed = (await client.get("/v1/inapp/messages", headers=user.headers)).json()
    if listed["conversation_id"] is None:
        assert (
            await client.post(
                "/v1/inapp/messages", headers=user.headers, json={"body": "hi", "client_id": "hi"}
            )
        ).status_code == 201
        listed = (await client.get("/v1/inapp/messages", headers=user.headers)).json()
    conversation_id: str = listed["conversation_id"]
    return conversation_id


SAME = b"%PDF-1.7 the same bytes, whoever sends them"


async def test_the_same_bytes_from_two_tenants_are_two_files_and_neither_tenant_reaches_the_others(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    ada = await app_user(client, tenant, "ada")
    bob = await app_user(client, other_tenant, "bob")
    mine = await upload(client, ada, "invoice.pdf", SAME, "application/pdf")
    theirs = await upload(client, bob, "contract.pdf", SAME, "application/pdf")
    assert mine["id"] != theirs["id"]
    for user, uploaded in ((ada, mine), (bob, theirs)):
        sent = await send(client, user, "file", [uploaded])
        assert sent.status_code == 201, sent.text

    a, b = tenant.headers, other_tenant.headers
    # Each tenant sees its own file, with its own name, conversation and URL.
    file = (await client.get(f"/v1/files/{mine['id']}", headers=a)).json()
    assert (file["name"], file["content_type"], file["size"]) == ("invoice.pdf", "application/pdf", len(SAME))
    assert file["url"] == f"/v1/files/{mine['id']}/content"
    assert file["conversation_id"] == await conversation_of(client, ada)
    content = await client.get(file["url"], headers=a)
    assert content.status_code == 200 and content.content == SAME
    assert content.headers["content-type"] == "application/pdf"
    assert content.headers["content-disposition"] == "attachment; filename*=UTF-8''invoice.pdf"
    assert (await client.get(f"/v1/files/{theirs['id']}", headers=b)).json()["name"] == "contract.pdf"

    # The other tenant's file, by id, is exactly what a file nobody has is: a 404 that tells nothing.
    nobody = "file_01M97V8ZR9PSHKDHBVPVD303KE"
    for path in ("/v1/files/{id}", "/v1/files/{id}/content"):
        other = await client.get(path.format(id=theirs["id"]), headers=a)
        unknown = await client.get(path.format(id=nobody), headers=a)
        assert other.status_code == unknown.status_code == 404
        assert other.json()["code"] == unknown.json()["code"] == "file_not_found"
        assert other.json()["detail"].replace(theirs["id"], "?") == unknown.json()["detail"].replace(
            nobody, "?"
        )
        assert SAME not in other.content and b"contract" not in other.content
    # By hash, through the conversation routes: only the tenant's own conversation, only its own file.
    sha256 = hashlib.sha256(SAME).hexdigest()
    bobs_conversation = await conversation_of(client, bob)
    assert (await client.get(f"/v1/conversations/{bobs_conversation}/files", headers=a)).status_code == 404
    by_hash = await client.get(
        f"/v1/channels/webchat/conversations/{bobs_conversation}/files/{sha256}", headers=a
    )
    assert by_hash.status_code == 404 and SAME not in by_hash.content
    adas_conversation = await conversation_of(client, ada)
    listed = (await client.get(f"/v1/conversations/{adas_conversation}/files", headers=a)).json()["data"]
    assert [f["id"] for f in listed] == [mine["id"]]
    assert listed[0]["message_id"] is not None and listed[0]["source"] == "upload"


async def test_a_message_cannot_attach_another_tenants_file_by_id_by_hash_or_by_url(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    secret = b"the other tenant's secret file"
    bob = await app_user(client, other_tenant, "bob")
    theirs = await upload(client, bob, "secret.txt", secret, "text/plain")
    assert (await send(client, bob, "file", [theirs])).status_code == 201

    ada = await app_user(client, tenant, "ada")
    conversation_id = await conversation_of(client, ada)
    before = (await client.get(f"/v1/conversations/{conversation_id}", headers=tenant.headers)).json()
    sha256 = hashlib.sha256(secret).hexdigest()
    references: list[dict[str, Any]] = [
        {"id": theirs["id"]},
        {"url": f"cxstack-file://sha256/{sha256}", "name": "x.txt", "content_type": "text/plain", "size": 1},
        {"url": f"/v1/files/{theirs['id']}/content"},
        {"url": f"http://cxstack.test/v1/files/{theirs['id']}"},
        theirs,
    ]
    for reference in references:
        # By the tenant's agents...
        posted = await client.post(
            f"/v1/conversations/{conversation_id}/messages",
            headers=tenant.headers,
            json={"direction": "outbound", "body": "", "attachments": [reference]},
        )
        assert posted.status_code == 422, posted.text
        problem = posted.json()
        assert problem["code"] == "attachment_unknown" and problem["field"] == "attachments[0]", problem
        # ... and by its app's users.
        sent = await send(client, ada, "stolen", [reference])
        assert sent.status_code == 422 and sent.json()["code"] == "attachment_unknown", sent.text
    # The hash of the other tenant's bytes answers as a hash nobody has: no probing.
    unheld = {"url": "cxstack-file://sha256/" + "ab" * 32, "name": "x.txt", "content_type": "text/plain"}
    held = {**unheld, "url": f"cxstack-file://sha256/{sha256}"}
    answers = [
        await client.post(
            f"/v1/conversations/{conversation_id}/messages",
            headers=tenant.headers,
            json={"direction": "outbound", "body": "", "attachments": [reference]},
        )
        for reference in (unheld, held)
    ]
    assert [a.status_code for a in answers] == [422, 422]
    assert answers[0].json()["detail"].replace("ab" * 32, "?") == answers[1].json()["detail"].replace(
        sha256, "?"
    )

    # Nothing was written, and the tenant's agents reach no copy of the bytes through its conversation.
    after = (await client.get(f"/v1/conversations/{conversation_id}", headers=tenant.headers)).json()
    assert after["message_count"] == before["message_count"]
    fetched = await client.get(
        f"/v1/channels/webchat/conversations/{conversation_id}/files/{sha256}", headers=tenant.headers
    )
    assert fetched.status_code == 404 and secret not in fetched.content
    events = await runtime.db.read(lambda session: read_events(session, after=0, limit=10_000, types=None))
    assert not any(theirs["id"] in str(e.data) for e in events if e.tenant == tenant.tenant_id)


async def test_a_file_of_one_conversation_is_not_attached_in_another(
    client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    ada = await app_user(client, tenant, "ada")
    eve = await app_user(client, tenant, "eve")
    adas = await upload(client, ada, "passport.jpg", b"\xff\xd8 ada's passport", "image/jpeg")
    assert (await send(client, ada, "file", [adas])).status_code == 201
    await conversation_of(client, eve)
    refused = await send(client, eve, "stolen", [adas])
    assert refused.status_code == 422 and refused.json()["field"] == "attachments[0]", refused.text


async def test_attachments_carry_the_file_apis_url_in_answers_listings_and_events(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    ada = await app_user(client, tenant, "ada")
    conversation_id = await conversation_of(client, ada)
    uploaded = await upload(client, ada, "photo.png", b"\x89PNG photo", "image/png")
    expected = {
        "id": uploaded["id"],
        "name": "photo.png",
        "content_type": "image/png",
        "size": 10,
        "url": f"/v1/files/{uploaded['id']}/content",
    }
    # An agent attaches the user's upload by id alone: the file's own name, type and size come with it.
    posted = await client.post(
        f"/v1/conversations/{conversation_id}/messages",
        headers=tenant.headers,
        json={"direction": "outbound", "body": "got it", "attachments": [{"id": uploaded["id"]}]},
    )
    assert posted.status_code == 201, posted.text
    assert posted.json()["attachments"] == [expected]
    listed = (
        await client.get(f"/v1/conversations/{conversation_id}/messages", headers=tenant.headers)
    ).json()
    assert listed["data"][-1]["attachments"] == [expected]
    [event] = await runtime.db.read(
        lambda session: read_events(session, after=0, limit=10_000, types=["message.sent"])
    )
    assert event.data["attachments"] == [expected]
    served = await client.get(expected["url"], headers=tenant.headers)
    assert served.content == b"\x89PNG photo" and served.headers["content-type"] == "image/png"
    file = (await client.get(f"/v1/files/{uploaded['id']}", headers=tenant.headers)).json()
    assert (file["conversation_id"], file["message_id"]) == (conversation_id, posted.json()["id"])
    # The app user's own view of it carries a signed link besides.
    [shown] = (await client.get("/v1/inapp/messages", headers=ada.headers)).json()["data"][-1]["attachments"]
    assert shown["url"] == expected["url"] and "token=" in shown["download_url"]


@pytest.mark.parametrize(
    ("attachment", "field"),
    [
        ({}, "attachments[0].id"),
        ({"url": "https://cdn.example/a.png"}, "attachments[0].name"),
        (
            {"url": "cxstack-file://sha256/not-hex", "name": "a", "content_type": "text/plain"},
            "attachments[0].url",
        ),
    ],
)
async def test_an_attachment_that_names_no_file_is_refused_naming_the_field(
    client: httpx.AsyncClient, tenant: TenantKey, attachment: dict[str, Any], field: str
) -> None:
    ada = await app_user(client, tenant, "ada")
    conversation_id = await conversation_of(client, ada)
    posted = await client.post(
        f"/v1/conversations/{conversation_id}/messages",
        headers=tenant.headers,
        json={"direction": "outbound", "body": "", "attachments": [attachment]},
    )
    assert posted.status_code == 422 and posted.json()["field"] == field, posted.text


async def test_attaching_the_hash_of_another_tenants_bytes_reaches_nothing(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    secret = b"%PDF the other tenant's contract"
    bob = await app_user(client, other_tenant, "bob")
    theirs = await upload(client, bob, "contract.pdf", secret, "application/pdf")
    assert (await send(client, bob, "file", [theirs])).status_code == 201
    forged = {
        "name": "contract.pdf",
        "content_type": "application/pdf",
        "size": len(secret),
        "url": "cxstack-file://sha256/" + hashlib.sha256(secret).hexdigest(),
    }
    # The tenant's app user: refused before anything is written, no link to the bytes handed out.
    ada = await app_user(client, tenant, "ada")
    sent = await send(client, ada, "stolen", [forged])
    assert sent.status_code == 422, sent.text
    assert sent.json()["code"] == "attachment_unknown" and sent.json()["field"] == "attachments[0]"
    assert secret not in sent.content
    # The tenant's agents: refused too.
    conversation_id = await conversation_of(client, ada)
    posted = await client.post(
        f"/v1/conversations/{conversation_id}/messages",
        headers=tenant.headers,
        json={"direction": "outbound", "body": "", "attachments": [forged]},
    )
    assert posted.status_code == 422 and posted.json()["field"] == "attachments[0]", posted.text
    fetched = await client.get(
        f"/v1/channels/webchat/conversations/{conversation_id}/files/{forged['url'][-64:]}",
        headers=tenant.headers,
    )
    assert fetched.status_code == 404 and secret not in fetched.content
