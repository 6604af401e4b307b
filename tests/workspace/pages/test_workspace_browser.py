"""The workspace in a real Chromium against a real server: signing in, presence, offers arriving live and
answered, and no serious accessibility problem (axe-core) on its pages.

Required in CI (CI=true); skipped elsewhere when there is no /usr/bin/chromium.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.browser import chromium
from tests.channels.webchat.conftest import LiveServer
from tests.conftest import TenantKey
from tests.governance.staff.people import make_person
from tests.workspace.pages.conftest import AgentDesk, start_chat

from cxstack.runtime import Runtime
from cxstack.workspace.assets import NODE_MODULES

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

AXE = NODE_MODULES / "axe-core" / "axe.min.js"


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as launched:
        yield launched


class Tab:
    """A page of a fresh browser context, with what its console said (a refused script shows there)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(str(error)))


async def open_tab(browser: Any, url: str) -> Tab:
    context = await browser.new_context()
    tab = Tab(await context.new_page())
    await tab.page.goto(url)
    return tab


async def signed_in_tab(browser: Any, server: LiveServer, desk: AgentDesk) -> Tab:
    tab = await open_tab(browser, f"{server.url}/app/sign-in?tenant=acme")
    page = tab.page
    await page.get_by_label("Email").fill(desk.agent.email)
    await page.get_by_label("Password").fill(desk.agent.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{server.url}/app")
    # Live: what is offered from now on arrives as an offer frame (with why it came to this agent).
    await page.locator("#connection[data-state=open]").wait_for()
    return tab


async def serious_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core in the page (evaluated, as a page's CSP would refuse it as a script tag)."""
    await page.evaluate(AXE.read_text())
    results: dict[str, Any] = await page.evaluate("axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def test_a_wrong_password_is_shown_and_the_right_one_opens_the_workspace(
    browser: Any, server: LiveServer, agent_desk: AgentDesk
) -> None:
    tab = await open_tab(browser, f"{server.url}/app/sign-in?tenant=acme")
    page = tab.page
    assert await page.get_by_label("Company (tenant)").input_value() == "acme"
    await page.get_by_label("Email").fill(agent_desk.agent.email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_label("Password").press("Enter")
    alert = page.get_by_role("alert")
    await alert.wait_for()
    assert "email or password is not right" in (await alert.text_content() or "")
    assert await page.get_by_label("Password").get_attribute("aria-invalid") == "true"

    await page.get_by_label("Password").fill(agent_desk.agent.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{server.url}/app")
    assert await page.locator("#person-name").text_content() == "Ann"
    assert await page.locator("#tenant-name").text_content() == "Acme"
    assert await page.locator("#person-role").text_content() == "agent"
    await page.locator("#connection[data-state=open]").wait_for()
    # The browser ran every script the page has: nothing refused by its CSP, nothing thrown (but the
    # wrong password's 401).
    assert [e for e in tab.errors if "401" not in e] == []

    # Signing out ends the session: the workspace sends the browser to sign in again.
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{server.url}/app/sign-in")
    await page.goto(f"{server.url}/app")
    assert page.url == f"{server.url}/app/sign-in?next=%2Fapp"


async def test_a_locked_account_is_told_until_when(
    browser: Any, server: LiveServer, agent_desk: AgentDesk
) -> None:
    tab = await open_tab(browser, f"{server.url}/app/sign-in?tenant=acme")
    page = tab.page
    await page.get_by_label("Email").fill(agent_desk.agent.email)
    alert = page.get_by_role("alert")
    for attempt in range(2):
        await page.get_by_label("Password").fill(f"wrong {attempt}")
        await page.get_by_role("button", name="Sign in").click()
        await alert.filter(has_text="not right").wait_for()
        await page.evaluate("document.getElementById('sign-in-error').hidden = true")
    # The third failure locks the account, and then even the right password is refused: the page says
    # until when (15 minutes from now).
    for password in ("wrong 2", agent_desk.agent.password):
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        await alert.filter(has_text="locked until").wait_for()
        text = await alert.text_content() or ""
        assert re.search(r"locked until \d{1,2}:\d{2}", text), text
        await page.evaluate("document.getElementById('sign-in-error').hidden = true")
    assert page.url.startswith(f"{server.url}/app/sign-in")


async def test_the_workspace_without_a_session_goes_to_sign_in_and_back(
    browser: Any, server: LiveServer, agent_desk: AgentDesk
) -> None:
    tab = await open_tab(browser, f"{server.url}/app")
    assert tab.page.url == f"{server.url}/app/sign-in?next=%2Fapp"
    await tab.page.get_by_role("heading", name="Sign in to cxstack").wait_for()


async def test_an_offer_arrives_with_a_countdown_and_accepted_moves_to_my_work(
    browser: Any, server: LiveServer, agent_desk: AgentDesk, key_api: httpx.AsyncClient
) -> None:
    tab = await signed_in_tab(browser, server, agent_desk)
    page = tab.page
    presence = page.get_by_label("Presence")
    await presence.select_option("available")
    await page.locator("#presence[data-presence=available]").wait_for()
    agent = (await key_api.get(f"/v1/routing/agents/{agent_desk.agent.user_id}")).json()
    assert agent["presence"] == "available"

    conversation_id = await start_chat(key_api, "Maria Lopez")
    offers = page.locator("#offers")
    offer = offers.locator(".offer")
    # The customer's name comes once the page has read the customer.
    await offer.locator("h3", has_text="Maria Lopez").wait_for()
    assert await offer.locator(".channel").text_content() == "webchat"
    assert await offer.locator(".queue").text_content() == "Billing"
    assert await offer.locator(".reason").text_content() == "Best skill match (billing 4)"
    seconds = int(await offer.locator(".countdown").get_attribute("data-seconds") or "0")
    assert 250 < seconds <= 300
    # It counts down.
    await offer.locator(f".countdown:not([data-seconds='{seconds}'])").wait_for(timeout=5_000)
    await page.locator("#load [data-channel=webchat]", has_text="webchat 1/2").wait_for(timeout=5_000)

    await offer.get_by_role("button", name="Accept offer from Maria Lopez").click()
    work = page.locator("#my-work .work")
    await work.wait_for()
    assert await work.locator("h3").text_content() == "Maria Lopez"
    assert await offers.locator(".offer").count() == 0
    item_id = await work.get_attribute("data-item-id")
    item = (await key_api.get(f"/v1/routing/items/{item_id}")).json()
    assert item["state"] == "assigned" and item["agent_id"] == agent_desk.agent.user_id
    assert item["conversation_id"] == conversation_id

    # A lost socket comes back and catches up from its ready frame: the same work, once.
    await page.evaluate("document.querySelector('cx-agent-desk').desk.feed.socket.close()")
    await page.locator("#connection[data-state=reconnecting]").wait_for()
    await page.locator("#connection[data-state=open]").wait_for(timeout=10_000)
    assert await page.locator("#my-work .work").count() == 1
    assert [e for e in tab.errors if "401" not in e] == []


async def test_a_declined_offer_leaves_the_page_and_goes_to_another_agent(
    browser: Any,
    server: LiveServer,
    agent_desk: AgentDesk,
    key_api: httpx.AsyncClient,
    runtime: Runtime,
    tenant: TenantKey,
) -> None:
    tab = await signed_in_tab(browser, server, agent_desk)
    page = tab.page
    await page.get_by_label("Presence").select_option("available")
    await page.locator("#presence[data-presence=available]").wait_for()
    # Bob, available since after ann, takes what she declines.
    bob = await make_person(runtime, tenant.tenant_id, "bob@acme.example", "agent", "bob password 1234")
    for path, body in (("", {"skills": {"billing": 3}}), ("/presence", {"presence": "available"})):
        answer = await key_api.put(f"/v1/routing/agents/{bob.user_id}{path}", json=body)
        assert answer.status_code == 200, answer.text
    await start_chat(key_api, "Kim Park")
    offer = page.locator("#offers .offer")
    await offer.wait_for()
    item_id = await offer.get_attribute("data-item-id")
    # Keyboard alone: Tab to the offer's Decline button and press Enter.
    decline = offer.get_by_role("button", name="Decline offer from Kim Park")
    for _ in range(20):
        await page.keyboard.press("Tab")
        if await decline.evaluate("b => b === document.activeElement"):
            break
    await page.keyboard.press("Enter")
    await page.locator("#offers .empty").wait_for()
    # Focus stays in the offers, for the next key press.
    assert await page.evaluate("document.activeElement.id") == "offers-title"
    assert await page.locator("#my-work .work").count() == 0
    item = (await key_api.get(f"/v1/routing/items/{item_id}")).json()
    assert item["declines"] == 1
    for _ in range(50):
        if item["agent_id"] == bob.user_id:
            break
        await asyncio.sleep(0.1)
        item = (await key_api.get(f"/v1/routing/items/{item_id}")).json()
    assert item["agent_id"] == bob.user_id and item["state"] == "offered"
    # Not offered to ann again.
    await asyncio.sleep(0.3)
    assert await page.locator("#offers .offer").count() == 0


async def test_a_person_without_a_routing_profile_is_told_so(
    browser: Any, server: LiveServer, runtime: Runtime, tenant: TenantKey
) -> None:
    await make_person(runtime, tenant.tenant_id, "sam@acme.example", "supervisor", "sam password 1234")
    tab = await open_tab(browser, f"{server.url}/app/sign-in?tenant=acme")
    await tab.page.get_by_label("Email").fill("sam@acme.example")
    await tab.page.get_by_label("Password").fill("sam password 1234")
    await tab.page.get_by_label("Password").press("Enter")
    await tab.page.wait_for_url(f"{server.url}/app")
    notice = tab.page.locator("#no-profile")
    await notice.wait_for()
    assert "no routing profile" in (await notice.text_content() or "")
    assert await tab.page.get_by_label("Presence").count() == 0


async def test_the_pages_have_no_serious_accessibility_problem(
    browser: Any, server: LiveServer, agent_desk: AgentDesk, key_api: httpx.AsyncClient
) -> None:
    tab = await open_tab(browser, f"{server.url}/app/sign-in")
    assert await serious_violations(tab.page) == []
    # The error state too.
    await tab.page.get_by_role("button", name="Sign in").click()
    await tab.page.get_by_role("alert").wait_for()
    assert await serious_violations(tab.page) == []

    tab = await signed_in_tab(browser, server, agent_desk)
    await tab.page.get_by_label("Presence").select_option("available")
    await start_chat(key_api, "Lee Chan")
    await tab.page.locator("#offers .offer").wait_for()
    assert await serious_violations(tab.page) == []
