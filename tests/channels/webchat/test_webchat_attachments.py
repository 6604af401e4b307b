"""Attachment downloads need proof of access to a conversation that holds the file: visitors get signed,
expiring links (fresh ones with every history), agents use the tenant API; everyone else is refused."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from tests.channels.webchat.conftest import LiveServer, visitor
from tests.conftest import TenantKey

from cxstack.channels.webchat import attachments, service
from cxstack.runtime import Runtime


async def _send_file(
    server: LiveServer, widget: dict[str, Any], name: str, data: bytes
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A new visitor uploads ``data`` and sends it; return (welcome, upload answer, acked message)."""
    async with visitor(server, widget["widget_key"]) as (chat, welcome):
        params = {"widget_key": widget["widget_key"], "visitor_id": welcome["visitor_id"]}
        async with httpx.AsyncClient(base_url=server.url) as http:
            uploaded = await http.post("/widget/v1/uploads", params=params, files={"file": (name, data)})
        assert uploaded.status_code == 201, uploaded.text
        await chat.send({"type": "message", "client_id": name, "body": "", "attachments": [uploaded.json()]})
        message: dict[str, Any] = (await chat.expect("ack"))["message"]
    return welcome, uploaded.json(), message


def _link(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query=str(httpx.QueryParams(query))).geturl()


async def test_a_visitor_downloads_through_the_link_of_their_message_and_history_hands_out_fresh_ones(
    server: LiveServer, widget: dict[str, Any]
) -> None:
    welcome, uploaded, message = await _send_file(server, widget, "invoice.pdf", b"%PDF invoice")
    link = message["attachments"][0]["download_url"]
    assert link.startswith(server.url + "/widget/v1/files/" + uploaded["id"] + "?")
    async with httpx.AsyncClient() as http:
        download = await http.get(link)
        assert download.status_code == 200 and download.content == b"%PDF invoice"
        assert download.headers["content-type"] == "application/octet-stream"
        assert download.headers["x-content-type-options"] == "nosniff"
        # Reloaded: the history carries the file with a link of its own that works too.
        async with visitor(server, widget["widget_key"], visitor_id=welcome["visitor_id"]) as (_, again):
            (reloaded,) = again["history"][0]["attachments"]
            assert reloaded["url"] == uploaded["url"]
            assert (await http.get(reloaded["download_url"])).content == b"%PDF invoice"


async def test_links_that_are_incomplete_tampered_expired_or_of_another_conversation_are_refused(
    server: LiveServer,
    widget: dict[str, Any],
    runtime: Runtime,
    api: httpx.AsyncClient,
    other_tenant: TenantKey,
) -> None:
    first_welcome, first_upload, first = await _send_file(server, widget, "a.txt", b"first file")
    _, second_upload, second = await _send_file(server, widget, "b.txt", b"second file")
    link = first["attachments"][0]["download_url"]
    key = first_upload["id"]
    other_key = second_upload["id"]

    async with httpx.AsyncClient(base_url=server.url) as http:

        async def refused(url: str, status: int, code: str, words: str) -> None:
            answer = await http.get(url)
            assert answer.status_code == status, answer.text
            problem = answer.json()
            assert problem["code"] == code and words in problem["detail"], problem
            assert first_upload["name"] not in answer.text and b"first file" not in answer.content

        # The file id and the visitor's own id are not enough.
        await refused(
            f"/widget/v1/files/{key}?widget_key={widget['widget_key']}&visitor_id={first_welcome['visitor_id']}",
            403,
            "file_link_invalid",
            "lacks conversation_id, expires, token",
        )
        await refused(_link(link, token="0" * 64), 403, "file_link_invalid", "token does not match")
        # The link of one conversation does not open another conversation's file, nor name another one.
        await refused(
            _link(link).replace(f"/files/{key}?", f"/files/{other_key}?"),
            403,
            "file_link_invalid",
            "token does not match",
        )
        await refused(
            _link(link, conversation_id=second["conversation_id"]), 403, "file_link_invalid", "does not match"
        )
        # Another tenant's widget key with this tenant's link.
        other_widget = (
            await http.put("/v1/channels/webchat/settings", json={}, headers=other_tenant.headers)
        ).json()
        await refused(_link(link, widget_key=other_widget["widget_key"]), 403, "file_link_invalid", "token")
        await refused(_link(link, widget_key="wk_nobody"), 403, "forbidden", "no webchat has the key")

        config = await runtime.db.read(
            lambda session: service.widget_config(session, widget_key=widget["widget_key"], channel="webchat")
        )
        assert config is not None
        # A link as it was handed out thirteen hours ago: genuine, but expired.
        then = datetime.now(UTC) - timedelta(hours=13)
        old = attachments.download_url(
            config, base=server.url, file_id=key, conversation_id=first["conversation_id"], now=then
        )
        await refused(old, 403, "file_link_expired", "reload the chat for a fresh link")
        # A genuine link for a conversation that does not hold the file.
        stray = attachments.download_url(
            config,
            base=server.url,
            file_id=other_key,
            conversation_id=first["conversation_id"],
            now=datetime.now(UTC),
        )
        await refused(stray, 404, "not_found", f"holds no file {other_key}")
        assert (await http.get(link)).content == b"first file"  # the real one still works

        # Agents fetch files through the tenant API, for their own tenant's conversations only.
        path = f"/v1/channels/webchat/conversations/{first['conversation_id']}/files/{key}"
        fetched = await api.get(path)
        assert fetched.status_code == 200 and fetched.content == b"first file"
        assert fetched.headers["content-disposition"] == "attachment; filename*=UTF-8''a.txt"
        assert (await http.get(path)).status_code == 401
        stranger = await http.get(path, headers=other_tenant.headers)
        assert stranger.status_code == 404 and b"first file" not in stranger.content
        elsewhere = await api.get(
            f"/v1/channels/webchat/conversations/{first['conversation_id']}/files/{other_key}"
        )
        assert elsewhere.status_code == 404 and f"holds no file {other_key}" in elsewhere.json()["detail"]


async def test_a_visitor_cannot_attach_another_tenants_file_by_its_hash(
    server: LiveServer, widget: dict[str, Any], other_tenant: TenantKey
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        other_widget = (
            await http.put("/v1/channels/webchat/settings", json={}, headers=other_tenant.headers)
        ).json()
    secret = b"%PDF the other tenant's invoice"
    await _send_file(server, other_widget, "invoice.pdf", secret)
    forged = {
        "name": "invoice.pdf",
        "content_type": "application/pdf",
        "size": len(secret),
        "url": "cxstack-file://sha256/" + hashlib.sha256(secret).hexdigest(),
    }
    async with visitor(server, widget["widget_key"]) as (chat, _):
        await chat.send({"type": "message", "client_id": "stolen", "body": "", "attachments": [forged]})
        error = await chat.expect("error")
        assert error["code"] == "attachment_unknown" and error["client_id"] == "stolen"
        assert error["field"] == "attachments[0]"
