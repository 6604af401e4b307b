"""The inbox and the conversation page in a real Chromium against a real server: a customer writes in
the webchat widget and the agent works the conversation from the offer to its close; another team's
conversation is not found; a draft outlives the session; the inbox's views, filters and search narrow
the list; and no serious accessibility problem (axe-core).

Required in CI (CI=true); skipped elsewhere when there is no /usr/bin/chromium.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.channels.webchat.conftest import LiveServer
from tests.channels.webchat.test_webchat_browser import shop_page
from tests.conftest import TenantKey
from tests.governance.staff.people import make_person, sign_in
from tests.workspace.conftest import Desk
from tests.workspace.pages.conftest import AgentDesk, start_chat
from tests.workspace.pages.test_workspace_browser import (
    Tab,
    open_tab,
    serious_violations,
    signed_in_tab,
)

from cxstack.runtime import Runtime

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def sign_in_as(tab: Tab, email: str, password: str) -> None:
    """Fill the sign-in form the tab shows and submit it."""
    page = tab.page
    await page.get_by_label("Company (tenant)").fill("acme")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_an_agent_works_a_webchat_from_the_offer_to_its_close(
    browser: Any,
    shop: tuple[str, dict[str, str]],
    server: LiveServer,
    widget: dict[str, Any],
    agent_desk: AgentDesk,
    key_api: httpx.AsyncClient,
    runtime: Runtime,
    tenant: TenantKey,
) -> None:
    bob = await make_person(runtime, tenant.tenant_id, "bob@acme.example", "agent", "bob password 1234")
    tab = await signed_in_tab(browser, server, agent_desk)
    agent = tab.page
    await agent.get_by_label("Presence").select_option("available")
    await agent.locator("#presence[data-presence=available]").wait_for()

    # The customer writes in the widget of the company's site (another browser context).
    customer = await shop_page(browser, shop, server, widget["widget_key"])
    await customer.locator(".cx-launcher").click()
    await customer.locator(".cx-input").fill("Where is my parcel?")
    await customer.locator(".cx-input").press("Enter")

    # It is offered to the agent, who accepts and opens it from the offer's card.
    offer = agent.locator("#offers .offer")
    await offer.wait_for(timeout=10_000)
    await offer.locator(".accept").click()
    link = agent.locator("#my-work .work .open-conversation")
    await link.wait_for()
    assert await agent.evaluate("document.activeElement.className") == "open-conversation"
    await link.click()
    await agent.wait_for_url(f"{server.url}/app/conversations/*")
    conversation_id = agent.url.rsplit("/", 1)[1]
    await agent.locator("#conversation-channel", has_text="webchat").wait_for()
    customer_entry = agent.locator(".entry[data-kind=customer]", has_text="Where is my parcel?")
    await customer_entry.wait_for()
    await agent.locator("#connection[data-state=open]").wait_for()

    # The customer writes again: it arrives live, once.
    await customer.locator(".cx-input").fill("It was due yesterday.")
    await customer.locator(".cx-input").press("Enter")
    await agent.locator(".entry[data-kind=customer]", has_text="It was due yesterday.").wait_for()

    # The agent replies; the customer sees it in the widget.
    await agent.get_by_label("Your reply").fill("It leaves the warehouse today.")
    await agent.get_by_role("button", name="Send reply").click()
    await agent.locator(".entry[data-kind=agent]", has_text="It leaves the warehouse today.").wait_for()
    await customer.locator(".cx-outbound", has_text="It leaves the warehouse today.").wait_for(timeout=10_000)
    assert await agent.locator(".entry[data-kind=agent]").count() == 1
    assert await agent.get_by_label("Your reply").input_value() == ""

    # An internal note mentioning bob: marked as a note, never shown to the customer, and bob is mentioned.
    await agent.get_by_label("Internal note", exact=True).check()
    await agent.get_by_label("Your note").fill("@bob@acme.example can you check the carrier?")
    await agent.get_by_role("button", name="Add note").click()
    note = agent.locator(".entry[data-kind=note]", has_text="can you check the carrier?")
    await note.wait_for()
    assert "Internal note" in (await note.locator(".entry-kind").text_content() or "")
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as bob_browser:
        await sign_in(bob_browser, bob)
        for _ in range(50):
            mentions = (await bob_browser.get("/v1/mentions")).json()["data"]
            if mentions:
                break
            await agent.wait_for_timeout(100)
        assert [m["conversation_id"] for m in mentions] == [conversation_id]
    assert await customer.locator(".cx-panel", has_text="check the carrier").count() == 0

    # Resolved: the header says closed, and the conversation is.
    await agent.get_by_role("button", name="Resolve").click()
    await agent.locator("#conversation-status[data-status=closed]").wait_for()
    await agent.get_by_role("button", name="Reopen").wait_for()
    assert (await key_api.get(f"/v1/conversations/{conversation_id}")).json()["status"] == "closed"
    # While the socket is away the customer writes; once it is back the page reads what it missed, and
    # shows nothing twice.
    feed = "document.querySelector('cx-timeline').model.feed"
    await agent.evaluate(f"{feed}.stop()")
    posted = await key_api.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={"direction": "inbound", "body": "Thanks!"},
    )
    assert posted.status_code == 201, posted.text
    await agent.wait_for_timeout(500)
    assert await agent.locator(".entry", has_text="Thanks!").count() == 0
    await agent.evaluate(f"{feed}.start()")
    await agent.locator("#connection[data-state=open]").wait_for(timeout=10_000)
    await agent.locator(".entry", has_text="Thanks!").wait_for()
    assert await agent.locator(".entry", has_text="Thanks!").count() == 1
    assert await agent.locator(".entry", has_text="It leaves the warehouse today.").count() == 1
    assert tab.errors == []


async def test_another_teams_conversation_opened_by_its_address_is_not_found(
    browser: Any, server: LiveServer, desk: Desk
) -> None:
    tab = await open_tab(browser, f"{server.url}/app/conversations/{desk.conversations['b']}")
    page = tab.page
    await sign_in_as(tab, "ann@acme.example", "agent_a password 1234")
    await page.wait_for_url(f"{server.url}/app/conversations/{desk.conversations['b']}")
    await page.get_by_role("heading", name="Conversation not found").wait_for()
    assert await page.locator("#customer-name").count() == 0
    answer = await page.goto(f"{server.url}/app/conversations/{desk.conversations['b']}")
    assert answer is not None and answer.status == 404
    # Her team's conversation opens.
    answer = await page.goto(f"{server.url}/app/conversations/{desk.conversations['a']}")
    assert answer is not None and answer.status == 200
    await page.locator("#customer-name", has_text="Carol Jones").wait_for()


async def test_a_draft_outlives_a_session_that_ended(
    browser: Any, server: LiveServer, agent_desk: AgentDesk, key_api: httpx.AsyncClient
) -> None:
    conversation_id = await start_chat(key_api, "Maria Lopez")
    tab = await signed_in_tab(browser, server, agent_desk)
    page = tab.page
    await page.goto(f"{server.url}/app/conversations/{conversation_id}")
    await page.locator("#connection[data-state=open]").wait_for()
    reply = page.get_by_label("Your reply")
    await reply.fill("Your refund is on its way.")

    # The session ends (its cookie gone); sending says so and keeps the draft.
    await page.context.clear_cookies()
    await page.get_by_role("button", name="Send reply").click()
    notice = page.locator("#session-ended")
    await notice.wait_for()
    assert "Your session ended: sign in again" in (await notice.text_content() or "")
    assert await reply.input_value() == "Your refund is on its way."
    messages = (await key_api.get(f"/v1/conversations/{conversation_id}/messages")).json()["data"]
    assert messages == []

    # Signing in again comes back to the conversation, with the draft, which is then sent.
    await notice.get_by_role("link", name="sign in again").click()
    await sign_in_as(tab, agent_desk.agent.email, agent_desk.agent.password)
    await page.wait_for_url(f"{server.url}/app/conversations/{conversation_id}")
    reply = page.get_by_label("Your reply")
    await page.locator("#composer-text").wait_for()
    assert await reply.input_value() == "Your refund is on its way."
    await page.get_by_role("button", name="Send reply").click()
    await page.locator(".entry[data-kind=agent]", has_text="Your refund is on its way.").wait_for()
    messages = (await key_api.get(f"/v1/conversations/{conversation_id}/messages")).json()["data"]
    assert [m["body"] for m in messages] == ["Your refund is on its way."]
    # Sent, the draft is gone: a reload shows an empty composer.
    await page.reload()
    await page.locator("#composer-text").wait_for()
    assert await page.get_by_label("Your reply").input_value() == ""


async def test_the_inbox_views_filters_and_search_narrow_the_list(
    browser: Any, server: LiveServer, agent_desk: AgentDesk, key_api: httpx.AsyncClient
) -> None:
    await start_chat(key_api, "Maria Lopez")
    olaf = (await key_api.post("/v1/customers", json={"name": "Olaf Berg"})).json()["id"]
    email = await key_api.post(
        "/v1/conversations",
        json={"customer_id": olaf, "channel": "email", "subject": "Invoice 42", "priority": "high"},
    )
    assert email.status_code == 201, email.text
    tab = await signed_in_tab(browser, server, agent_desk)
    page = tab.page
    rows = page.locator("cx-inbox .inbox-row")

    # Mine is empty; Unassigned holds both, with their counts.
    await page.locator("#inbox-empty").wait_for()
    await page.locator("[data-count=unassigned]", has_text="2").wait_for()
    await page.get_by_role("button", name="Unassigned").click()
    await rows.nth(1).wait_for()
    assert await rows.count() == 2
    email_row = rows.filter(has_text="Olaf Berg")
    await email_row.locator(".row-preview", has_text="Invoice 42").wait_for()
    assert await email_row.locator(".row-channel").text_content() == "email"
    assert await email_row.locator(".row-priority").text_content() == "high"

    await page.get_by_label("Channel").select_option("email")
    await page.locator("cx-inbox .inbox-row:only-child", has_text="Olaf Berg").wait_for()
    await page.get_by_label("Channel").select_option("")
    await rows.nth(1).wait_for()
    await page.get_by_label("Priority").select_option("high")
    await page.locator("cx-inbox .inbox-row:only-child", has_text="Olaf Berg").wait_for()
    await page.get_by_label("Priority").select_option("")
    await page.get_by_label("Status").select_option("closed")
    await page.locator("#inbox-empty").wait_for()
    await page.get_by_label("Status").select_option("active")
    await rows.nth(1).wait_for()
    await page.get_by_label("Search").fill("maria")
    await page.get_by_label("Search").press("Enter")
    await page.locator("cx-inbox .inbox-row:only-child", has_text="Maria Lopez").wait_for()
    await page.get_by_label("Search").fill("")
    await page.get_by_label("Search").press("Enter")
    await rows.nth(1).wait_for()

    # A conversation started now is counted live.
    await start_chat(key_api, "Kim Park")
    await page.locator("[data-count=unassigned]", has_text="3").wait_for(timeout=10_000)
    await rows.nth(2).wait_for()

    # The keyboard alone: j moves down the list, k up, Enter opens.
    await page.locator("body").click()
    await page.keyboard.press("j")
    await page.keyboard.press("j")
    await page.keyboard.press("k")
    first = await rows.nth(0).get_attribute("data-conversation-id")
    focused = await page.evaluate("document.activeElement.closest('.inbox-row')?.dataset.conversationId")
    assert focused == first
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{server.url}/app/conversations/{first}")
    assert tab.errors == []


async def test_the_inbox_and_the_conversation_page_have_no_serious_accessibility_problem(
    browser: Any, server: LiveServer, agent_desk: AgentDesk, key_api: httpx.AsyncClient
) -> None:
    conversation_id = await start_chat(key_api, "Lee Chan")
    posted = await key_api.post(
        f"/v1/conversations/{conversation_id}/messages", json={"direction": "inbound", "body": "Hello?"}
    )
    assert posted.status_code == 201, posted.text
    await key_api.post(
        "/v1/notes", json={"target_type": "conversation", "target_id": conversation_id, "body": "VIP"}
    )
    tab = await signed_in_tab(browser, server, agent_desk)
    page = tab.page
    await page.get_by_role("button", name="Unassigned").click()
    await page.locator("cx-inbox .inbox-row", has_text="Lee Chan").wait_for()
    assert await serious_violations(page) == []

    await page.goto(f"{server.url}/app/conversations/{conversation_id}")
    await page.locator(".entry[data-kind=note]", has_text="VIP").wait_for()
    await page.locator(".entry[data-kind=customer]", has_text="Hello?").wait_for()
    assert await serious_violations(page) == []
    await page.get_by_label("Internal note", exact=True).check()
    assert await serious_violations(page) == []


async def test_a_supervisor_inserts_a_canned_response_mentions_by_name_and_sets_the_status(
    browser: Any,
    server: LiveServer,
    agent_desk: AgentDesk,
    key_api: httpx.AsyncClient,
    runtime: Runtime,
    tenant: TenantKey,
) -> None:
    sue = await make_person(runtime, tenant.tenant_id, "sue@acme.example", "supervisor", "sue password 1234")
    canned = await key_api.post(
        "/v1/canned-responses",
        json={
            "name": "Greeting",
            "shortcut": "greeting",
            "body": "Hi {{customer.first_name}}, this is {{agent.name}}. {{customer.email}}",
        },
    )
    assert canned.status_code == 201, canned.text
    conversation_id = await start_chat(key_api, "Maria Lopez")
    url = f"{server.url}/app/conversations/{conversation_id}"
    tab = await open_tab(browser, url)
    page = tab.page
    await sign_in_as(tab, sue.email, sue.password)
    await page.wait_for_url(url)
    await page.locator("#connection[data-state=open]").wait_for()

    # The canned response, rendered for this conversation and this person, goes into the reply.
    await page.get_by_label("Canned response").select_option(label="Greeting (greeting)")
    await page.get_by_role("button", name="Insert").click()
    await page.locator("#canned-missing", has_text="customer.email").wait_for()
    assert await page.get_by_label("Your reply").input_value() == "Hi Maria, this is Sue. "

    # A note: typing @ and part of a name offers the teammate; picking them writes the handle.
    await page.get_by_label("Internal note", exact=True).check()
    note = page.get_by_label("Your note")
    await note.fill("")
    await note.press_sequentially("Please call her @an")
    await page.get_by_role("button", name="Ann ann@acme.example").click()
    written = await note.input_value()
    assert written == f"Please call her @[Ann]({agent_desk.agent.user_id}) "
    await page.get_by_role("button", name="Add note").click()
    await page.locator(".entry[data-kind=note]", has_text="Please call her @Ann").wait_for()

    # The status buttons: pending, snoozed, open again.
    status = page.locator("#conversation-status")
    for button, value in (("Mark pending", "pending"), ("Snooze", "snoozed"), ("Mark open", "open")):
        await page.get_by_role("button", name=button).click()
        await page.locator(f"#conversation-status[data-status={value}]").wait_for()
        assert await status.text_content() == value
        answer = await key_api.get(f"/v1/conversations/{conversation_id}")
        assert answer.json()["status"] == value
    assert tab.errors == []
