"""The widget in a real Chromium: a company's page with the one script tag, against a real server.

Required in CI (CI=true); skipped elsewhere when there is no /usr/bin/chromium.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from tests.browser import chromium
from tests.channels.webchat.conftest import LiveServer, Socket, agent, closed_now, serving
from tests.conftest import TenantKey

#: A host page whose CSS would wreck the widget if it leaked into it.
HOSTILE_CSS = "* { color: rgb(255, 0, 0) !important; font-size: 40px !important; } div { display: inline; }"

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def shop() -> AsyncIterator[tuple[str, dict[str, str]]]:
    """The company's site: another origin than cxstack's (a second server on 127.0.0.1), serving the pages
    a test puts in the returned dict (path -> HTML)."""
    pages: dict[str, str] = {}

    async def page(request: Request) -> HTMLResponse:
        html = pages.get(request.url.path)
        return HTMLResponse(html or "not found", status_code=200 if html else 404)

    app = Starlette(routes=[Route("/{path:path}", page)])
    async with serving(app) as origin:
        yield origin, pages


async def shop_page(
    browser: Any,
    shop: tuple[str, dict[str, str]],
    server: LiveServer,
    widget_key: str,
    *,
    extra: str = "",
    status: str = "online",
) -> Any:
    """A page of the company's shop (another origin than cxstack's) with the one script tag."""
    origin, pages = shop
    pages["/"] = (
        f"<!doctype html><html><head><style>{HOSTILE_CSS}</style></head><body><h1>Shop</h1>"
        f'<script src="{server.url}/widget/v1.js" data-tenant="{widget_key}" {extra} async></script>'
        "</body></html>"
    )
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(origin + "/")
    await page.locator(f"[data-cxstack-chat][data-status={status}]").wait_for(
        state="attached", timeout=10_000
    )
    return page


async def next_message(desk: Socket, body: str) -> dict[str, Any]:
    frame = await desk.expect("message", timeout_s=10)
    while frame["message"]["body"] != body:
        frame = await desk.expect("message", timeout_s=10)
    message: dict[str, Any] = frame["message"]
    return message


async def test_visitor_and_agent_chat_in_a_real_browser(
    browser: Any,
    shop: tuple[str, dict[str, str]],
    server: LiveServer,
    widget: dict[str, Any],
    tenant: TenantKey,
    api: httpx.AsyncClient,
) -> None:
    async with agent(server, tenant) as desk:
        page = await shop_page(browser, shop, server, widget["widget_key"])
        await page.locator(".cx-launcher").click()
        panel = page.locator(".cx-panel")
        await panel.wait_for(state="visible")
        assert await page.locator(".cx-header").text_content() == "Hello from Acme"
        # The host page's CSS does not reach into the widget.
        color = await page.locator(".cx-header").evaluate("e => getComputedStyle(e).color")
        assert color == "rgb(255, 255, 255)"

        await page.locator(".cx-input").fill("Do you ship to Norway?")
        await page.locator(".cx-input").press("Enter")
        arrived = await next_message(desk, "Do you ship to Norway?")
        conversation_id = arrived["conversation_id"]
        await page.locator(".cx-inbound:not(.cx-pending)", has_text="Do you ship to Norway?").wait_for()

        # The visitor types: the agent sees it.
        await page.locator(".cx-input").type("Also")
        typing = await desk.expect("typing", timeout_s=10)
        assert typing["by"] == "visitor" and typing["conversation_id"] == conversation_id
        await page.locator(".cx-input").fill("")

        # The agent types, then answers: the widget shows both, and reports delivery and reading.
        await desk.send({"type": "typing", "conversation_id": conversation_id, "state": True})
        await page.locator(".cx-typing.cx-shown").wait_for(timeout=5_000)
        await desk.send(
            {
                "type": "message",
                "conversation_id": conversation_id,
                "client_id": "a1",
                "body": "Yes, in 3 days.",
            }
        )
        reply = await page.locator(".cx-outbound", has_text="Yes, in 3 days.").element_handle()
        assert reply is not None
        assert not await page.locator(".cx-typing").evaluate("e => e.classList.contains('cx-shown')")
        reply_id = (await desk.expect("ack", client_id="a1"))["message"]["id"]
        delivered = await desk.expect("receipt", timeout_s=10, receipt="delivered")
        assert delivered["message_id"] == reply_id and delivered["by"] == "visitor"
        assert (await desk.expect("receipt", timeout_s=10, receipt="read"))["message_id"] == reply_id

        # The agent reads the visitor's message: the widget marks it read.
        await desk.send({"type": "read", "conversation_id": conversation_id, "message_id": arrived["id"]})
        await page.locator(f'.cx-inbound[data-receipt="read"][data-id="{arrived["id"]}"]').wait_for()

        # Reload: the history is there, from the visitor id kept in localStorage.
        visitor_id = await page.evaluate(
            "Object.entries(localStorage).find(([k]) => k.endsWith(':visitor'))[1]"
        )
        await page.reload()
        await page.locator("[data-cxstack-chat][data-status=online]").wait_for(
            state="attached", timeout=10_000
        )
        await page.locator(".cx-launcher").click()
        messages = page.locator(".cx-message")
        await page.locator(".cx-outbound", has_text="Yes, in 3 days.").wait_for()
        texts = [
            text.removesuffix("Read").removesuffix("Delivered") for text in await messages.all_text_contents()
        ]
        assert texts == ["Do you ship to Norway?", "Yes, in 3 days."]
        assert await page.evaluate("window.cxstackChat.visitorId") == visitor_id.strip('"')

        # The connection drops just after a message went out, before its ack: the widget reconnects,
        # resumes and sends it again; it is stored once and shown once.
        await page.evaluate("window.cxstackChat.post('Are you there?', []); window.cxstackChat.drop();")
        # And a message written while disconnected waits and goes out after the reconnect.
        await page.evaluate("window.cxstackChat.drop(); window.cxstackChat.post('Hello again', []);")
        await next_message(desk, "Are you there?")
        await next_message(desk, "Hello again")
        await page.locator(".cx-inbound:not(.cx-pending)", has_text="Hello again").wait_for(
            state="attached", timeout=10_000
        )
        await desk.quiet("message", 1.0)
        assert await page.locator(".cx-inbound", has_text="Are you there?").count() == 1
        assert await page.evaluate("window.cxstackChat.outbox.length") == 0

    stored = (await api.get(f"/v1/conversations/{conversation_id}/messages")).json()["data"]
    assert [m["body"] for m in stored] == [
        "Do you ship to Norway?",
        "Yes, in 3 days.",
        "Are you there?",
        "Hello again",
    ]


async def test_pre_chat_form_and_refused_upload_in_the_browser(
    browser: Any,
    shop: tuple[str, dict[str, str]],
    server: LiveServer,
    api: httpx.AsyncClient,
    tenant: TenantKey,
    tmp_path: Path,
) -> None:
    settings = (
        await api.put(
            "/v1/channels/webchat/settings", json={"prechat": {"name": "required", "email": "required"}}
        )
    ).json()
    async with agent(server, tenant) as desk:
        page = await shop_page(browser, shop, server, settings["widget_key"], extra='data-open="true"')
        form = page.locator(".cx-prechat")
        await form.wait_for(state="visible")
        await page.locator(".cx-input").fill("first question")
        await page.locator(".cx-input").press("Enter")
        await desk.quiet("message", 0.5)  # held back until the form is filled in
        await page.locator(".cx-name").fill("Linus")
        await page.locator(".cx-email").fill("linus@example.com")
        await page.locator(".cx-prechat button").click()
        message = await next_message(desk, "first question")
        await form.wait_for(state="hidden")
        conversation = (await api.get(f"/v1/conversations/{message['conversation_id']}")).json()
        customer = (await api.get(f"/v1/customers/{conversation['customer_id']}")).json()
        assert (customer["name"], customer["email"]) == ("Linus", "linus@example.com")

        big = tmp_path / "big.bin"
        big.write_bytes(b"0" * (10 * 1024 * 1024 + 1))
        await page.locator(".cx-file").set_input_files(str(big))
        error = page.locator(".cx-error.cx-shown")
        await error.wait_for(state="attached", timeout=10_000)
        assert "at most 10485760 bytes" in (await error.text_content() or "")

        small = tmp_path / "note.txt"
        small.write_bytes(b"hello file")
        await page.locator(".cx-file").set_input_files(str(small))
        await page.locator(".cx-attachment", has_text="note.txt").wait_for(state="attached", timeout=10_000)
        attached = await desk.expect("message", timeout_s=10)
        assert attached["message"]["attachments_count"] == 1
        listed = await api.get(f"/v1/conversations/{attached['message']['conversation_id']}/messages")
        file = listed.json()["data"][-1]["attachments"][0]
        await desk.send(
            {
                "type": "message",
                "conversation_id": attached["message"]["conversation_id"],
                "client_id": "label",
                "body": "Here is your label",
                "attachments": [{**file, "name": "label.txt"}],
            }
        )
        link = page.locator(".cx-outbound .cx-attachment", has_text="label.txt")
        await link.wait_for(state="attached", timeout=10_000)
        href = await link.get_attribute("href")
        assert href is not None and "token=" in href and "visitor_id" not in href
        async with httpx.AsyncClient() as http:
            assert (await http.get(href)).content == b"hello file"
            # The file's key alone opens nothing: the link's signature is what grants it.
            assert (await http.get(href.split("?")[0])).status_code == 403


async def test_a_wrong_user_hash_closes_the_widget(
    browser: Any, shop: tuple[str, dict[str, str]], server: LiveServer, widget: dict[str, Any]
) -> None:
    page = await shop_page(
        browser,
        shop,
        server,
        widget["widget_key"],
        extra='data-user-id="user-7" data-user-hash="bad"',
        status="closed",
    )
    await page.locator(".cx-launcher").click()
    await page.locator(".cx-panel").wait_for(state="visible")
    error = page.locator(".cx-error.cx-shown")
    assert await error.is_visible()
    assert "identity verification failed" in (await error.text_content() or "")
    # The widget stays closed: nothing can be typed or sent, and nothing waits to be sent forever.
    assert await page.locator(".cx-input").is_disabled()
    assert await page.locator(".cx-send").is_disabled()
    assert await page.locator(".cx-attach").is_disabled()
    await page.evaluate("window.cxstackChat.post('typed anyway', [])")
    assert await page.locator(".cx-pending").count() == 0
    assert await page.locator(".cx-message").count() == 0
    assert await page.evaluate("window.cxstackChat.outbox.length") == 0


async def test_what_was_typed_before_a_wrong_user_hash_was_refused_is_shown_as_not_sent(
    browser: Any, shop: tuple[str, dict[str, str]], server: LiveServer, widget: dict[str, Any]
) -> None:
    origin, pages = shop
    pages["/"] = (
        "<!doctype html><html><body><h1>Shop</h1>"
        f'<script src="{server.url}/widget/v1.js" data-tenant="{widget["widget_key"]}" '
        'data-user-id="user-7" data-user-hash="bad" data-open="true" async></script>'
        "</body></html>"
    )
    context = await browser.new_context()
    page = await context.new_page()
    # The server's refusal comes late (a slow network): the visitor types first.
    routes: list[Any] = []

    def hold(route: Any) -> None:
        routes.append(route)

    await page.route_web_socket(f"{server.ws_url}/ws/webchat", hold)
    await page.goto(origin + "/")
    await page.locator("[data-cxstack-chat][data-status=connecting]").wait_for(state="attached")
    await page.locator(".cx-input").fill("Typed while connecting")
    await page.locator(".cx-input").press("Enter")
    pending = page.locator(".cx-message.cx-pending", has_text="Typed while connecting")
    await pending.wait_for(state="attached")
    [route] = routes
    await route.close(code=1008, reason="identity refused")
    await page.locator("[data-cxstack-chat][data-status=closed]").wait_for(state="attached")
    failed = page.locator(".cx-message.cx-failed", has_text="Typed while connecting")
    assert await failed.count() == 1 and await page.locator(".cx-pending").count() == 0
    assert await page.locator(".cx-input").is_disabled()
    assert "identity refused" in (await page.locator(".cx-error.cx-shown").text_content() or "")


async def test_outside_business_hours_the_widget_asks_for_an_email_and_moves_to_email(
    browser: Any,
    shop: tuple[str, dict[str, str]],
    server: LiveServer,
    api: httpx.AsyncClient,
) -> None:
    settings = (
        await api.put(
            "/v1/channels/webchat/settings",
            json={"business_hours": closed_now(), "offline_message": "We're closed. Leave your email."},
        )
    ).json()
    page = await shop_page(browser, shop, server, settings["widget_key"], extra='data-open="true"')
    notice = page.locator(".cx-notice.cx-shown")
    await notice.wait_for(state="attached")
    assert await notice.text_content() == "We're closed. Leave your email."
    await page.locator(".cx-input").fill("Can I return shoes?")
    await page.locator(".cx-input").press("Enter")
    await page.locator(".cx-inbound:not(.cx-pending)", has_text="Can I return shoes?").wait_for(
        state="attached"
    )
    await page.locator(".cx-email").fill("shoes@example.com")
    await page.locator(".cx-prechat button").click()
    await page.locator(".cx-notice", has_text="answer by email at shoes@example.com").wait_for(
        state="attached"
    )
    conversations = (await api.get("/v1/conversations")).json()["data"]
    assert [(c["channel"], c["origin_channel"]) for c in conversations] == [("email", "webchat")]


async def test_a_visitor_who_signs_in_keeps_the_chat_in_the_browser(
    browser: Any,
    shop: tuple[str, dict[str, str]],
    server: LiveServer,
    widget: dict[str, Any],
    tenant: TenantKey,
    api: httpx.AsyncClient,
) -> None:
    known = (
        await api.post(
            "/v1/customers",
            json={"name": "Ada", "identities": [{"kind": "external", "system": "app", "value": "user-42"}]},
        )
    ).json()
    user_hash = hmac.new(widget["identity_secret"].encode(), b"user-42", hashlib.sha256).hexdigest()
    async with agent(server, tenant) as desk:
        page = await shop_page(browser, shop, server, widget["widget_key"], extra='data-open="true"')
        await page.locator(".cx-input").fill("Where is my parcel?")
        await page.locator(".cx-input").press("Enter")
        conversation_id = (await next_message(desk, "Where is my parcel?"))["conversation_id"]

        # The shop signs its user in without a reload.
        assert await page.evaluate(f"window.cxstackChat.signIn('user-42', '{user_hash}')") is True
        merged = await desk.expect("customer", timeout_s=10, event="merged")
        assert merged["data"]["target_customer_id"] == known["id"]
        assert merged["data"]["moved"]["conversations"] == [conversation_id]
        await page.wait_for_function("window.cxstackChat.welcome.verified === true")

        # The next page carries the user's signature: the same chat is there.
        pages = shop[1]
        pages["/"] = pages["/"].replace(
            "async></script>", f'data-user-id="user-42" data-user-hash="{user_hash}" async></script>'
        )
        await page.reload()
        await page.locator(".cx-inbound", has_text="Where is my parcel?").wait_for(timeout=10_000)
        await page.locator(".cx-input").fill("Signed in now")
        await page.locator(".cx-input").press("Enter")
        assert (await next_message(desk, "Signed in now"))["conversation_id"] == conversation_id
    conversation = (await api.get(f"/v1/conversations/{conversation_id}")).json()
    assert conversation["customer_id"] == known["id"]
