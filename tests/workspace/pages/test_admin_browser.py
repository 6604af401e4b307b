"""The administration page in a real Chromium against a real server: an admin adds people to teams and
manages canned responses, sees the API's refusals beside the form, and nobody else gets in; no serious
accessibility problem (axe-core).

Required in CI (CI=true); skipped elsewhere when there is no /usr/bin/chromium.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.browser import chromium
from tests.channels.webchat.conftest import LiveServer
from tests.conftest import TenantKey
from tests.governance.staff.people import Person, make_person
from tests.workspace.pages.test_workspace_browser import Tab, open_tab, serious_violations

from cxstack.runtime import Runtime

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ADMIN_PASSWORD = "ada password 1234"


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def admin(runtime: Runtime, tenant: TenantKey) -> Person:
    return await make_person(runtime, tenant.tenant_id, "ada@acme.example", "admin", ADMIN_PASSWORD)


async def signed_in(browser: Any, server: LiveServer, person: Person, section: str = "") -> Tab:
    """Sign ``person`` in through the sign-in page, which sends them on to the administration."""
    tab = await open_tab(browser, f"{server.url}/app/admin{section}")
    page = tab.page
    assert page.url.startswith(f"{server.url}/app/sign-in?next=%2Fapp%2Fadmin")
    await page.get_by_label("Company (tenant)").fill("acme")
    await page.get_by_label("Email").fill(person.email)
    await page.get_by_label("Password").fill(person.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{server.url}/app/admin")
    if section:
        await page.goto(f"{server.url}/app/admin{section}")
    return tab


async def test_an_admin_adds_a_user_with_a_role_and_a_team_who_can_then_sign_in(
    browser: Any, server: LiveServer, admin: Person, key_api: httpx.AsyncClient
) -> None:
    team = await key_api.post("/v1/teams", json={"name": "Billing"})
    assert team.status_code == 201, team.text
    tab = await signed_in(browser, server, admin)
    page = tab.page
    users = page.locator("#section-users")
    await users.get_by_role("heading", name="Users").wait_for()
    # The admin themselves is listed already.
    await users.locator("#users-list").get_by_role("rowheader", name="Ada").wait_for()

    form = users.get_by_role("form", name="Add a user")
    await form.get_by_label("Name").fill("Bea Brown")
    await form.get_by_label("Email").fill("bea@acme.example")
    await form.get_by_label("Role").select_option("supervisor")
    await form.get_by_role("checkbox", name="Billing").check()
    await form.get_by_label("Initial password").fill("bea password 1234")
    await form.get_by_role("button", name="Add user").click()

    await users.get_by_role("status").filter(has_text="User Bea Brown created.").wait_for()
    row = users.locator("#users-list tr", has=page.get_by_role("rowheader", name="Bea Brown"))
    await row.wait_for()
    assert (await row.locator("td").all_text_contents())[:4] == [
        "bea@acme.example",
        "Supervisor",
        "Billing",
        "Active",
    ]
    await row.get_by_role("button", name="Disable Bea Brown").wait_for()
    # An admin cannot disable themselves from here (it would end the session they are working in).
    assert await users.get_by_role("button", name="Disable Ada", exact=True).count() == 0
    # The team lists its new member.
    await page.get_by_role("link", name="Teams").click()
    teams = page.locator("#section-teams")
    await teams.get_by_role("heading", name="Teams").wait_for()
    await teams.locator("#teams-list tr", has_text="Billing").get_by_text("Bea Brown").wait_for()

    # She signs in with the password the admin gave her.
    signed = await key_api.post(
        "/v1/auth/sign-in",
        json={"tenant": "acme", "email": "bea@acme.example", "password": "bea password 1234"},
    )
    assert signed.status_code == 200, signed.text
    assert signed.json()["user"]["role"] == "supervisor"
    assert signed.json()["user"]["team_ids"] == [team.json()["id"]]
    assert tab.errors == []


async def test_a_refused_user_shows_the_api_s_problem_and_nothing_is_created(
    browser: Any, server: LiveServer, admin: Person, key_api: httpx.AsyncClient
) -> None:
    tab = await signed_in(browser, server, admin)
    page = tab.page
    users = page.locator("#section-users")
    form = users.get_by_role("form", name="Add a user")
    await users.locator("#users-list").get_by_role("rowheader", name="Ada").wait_for()

    # An email the tenant has already.
    await form.get_by_label("Name").fill("Another Ada")
    await form.get_by_label("Email").fill("ada@acme.example")
    await form.get_by_role("button", name="Add user").click()
    alert = form.get_by_role("alert")
    await alert.filter(has_text="already exists").wait_for()
    assert await alert.text_content() == "a user with email ada@acme.example already exists"
    email = form.get_by_label("Email")
    assert await email.get_attribute("aria-invalid") == "true"
    # The keyboard is taken to the field the problem names.
    assert await email.evaluate("element => element === document.activeElement")

    # An empty name.
    await form.get_by_label("Name").fill("")
    await email.fill("cid@acme.example")
    await form.get_by_role("button", name="Add user").click()
    await alert.filter(has_text="name").wait_for()
    assert "field 'name'" in (await alert.text_content() or "")
    assert await form.get_by_label("Name").get_attribute("aria-invalid") == "true"
    assert await email.get_attribute("aria-invalid") == "false"

    listed = (await key_api.get("/v1/users")).json()["data"]
    assert [user["email"] for user in listed] == ["ada@acme.example"]
    assert await users.locator("#users-list tbody tr").count() == 1
    assert [e for e in tab.errors if "409" not in e and "422" not in e] == []


async def test_an_admin_adds_a_canned_response_and_edits_it(
    browser: Any, server: LiveServer, admin: Person, key_api: httpx.AsyncClient
) -> None:
    tab = await signed_in(browser, server, admin, "#canned")
    page = tab.page
    canned = page.locator("#section-canned")
    await canned.get_by_role("heading", name="Canned responses").wait_for()
    await canned.get_by_text("No canned responses yet.").wait_for()
    assert await page.get_by_role("link", name="Canned responses").get_attribute("aria-current") == "true"

    form = canned.get_by_role("form", name="Add a canned response")
    await form.get_by_label("Name").fill("Refund policy")
    await form.get_by_label("Shortcut").fill("refund-policy")
    await form.get_by_label("Text").fill("Hi {{customer.first_name}}, refunds take 5 days.")
    await form.get_by_role("button", name="Add canned response").click()
    row = canned.locator("#canned-list tr", has=page.get_by_role("rowheader", name="Refund policy"))
    await row.wait_for()
    assert "refund-policy" in (await row.text_content() or "")

    # A shortcut the API refuses: its detail is shown, nothing changes.
    await row.get_by_role("button", name="Edit Refund policy").click()
    edit = canned.get_by_role("form", name="Edit Refund policy")
    assert await edit.get_by_label("Name").evaluate("element => element === document.activeElement")
    await edit.get_by_label("Shortcut").fill("Refund Policy")
    await edit.get_by_role("button", name="Save changes").click()
    await edit.get_by_role("alert").filter(has_text="shortcut").wait_for()

    await edit.get_by_label("Shortcut").fill("refunds")
    await edit.get_by_label("Text").fill("Refunds take 3 days.")
    await edit.get_by_role("button", name="Save changes").click()
    await canned.get_by_role("status").filter(has_text="Canned response Refund policy saved.").wait_for()
    await canned.locator("#canned-list tr", has_text="Refunds take 3 days.").wait_for()

    stored = (await key_api.get("/v1/canned-responses")).json()["data"]
    assert [(c["shortcut"], c["body"]) for c in stored] == [("refunds", "Refunds take 3 days.")]
    assert [e for e in tab.errors if "422" not in e] == []


async def test_a_supervisor_is_told_the_administration_is_for_admins(
    browser: Any, server: LiveServer, runtime: Runtime, tenant: TenantKey
) -> None:
    supervisor = await make_person(
        runtime, tenant.tenant_id, "sue@acme.example", "supervisor", "sue password 1234"
    )
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as client:
        signed = await client.post(
            "/v1/auth/sign-in",
            json={"tenant": "acme", "email": supervisor.email, "password": supervisor.password},
        )
        assert signed.status_code == 200, signed.text
        answer = await client.get("/app/admin")
        assert answer.status_code == 403
        assert "Administration is for admins" in answer.text
        assert "csrf-token" not in answer.text
        # The workspace offers the administration to admins only.
        assert "Administration" not in (await client.get("/app")).text
    tab = await signed_in(browser, server, supervisor)
    await tab.page.get_by_role("heading", name="Administration is for admins").wait_for()
    assert "supervisor" in (await tab.page.locator("#forbidden").text_content() or "")


async def test_every_section_has_no_serious_accessibility_problem(
    browser: Any, server: LiveServer, admin: Person, key_api: httpx.AsyncClient
) -> None:
    assert (await key_api.post("/v1/teams", json={"name": "Billing"})).status_code == 201
    assert (await key_api.put("/v1/channels/webchat/settings", json={"greeting": "Hi"})).status_code == 200
    tab = await signed_in(browser, server, admin)
    page = tab.page
    # The workspace links here for an admin.
    await page.goto(f"{server.url}/app")
    await page.get_by_role("link", name="Administration").click()
    await page.wait_for_url(f"{server.url}/app/admin")
    await page.locator("#users-list").wait_for()
    assert await serious_violations(page) == []
    for name, ready in (
        ("Teams", "#teams-list"),
        ("Canned responses", "#canned-form"),
        ("Queues", "#queues-form"),
        ("Agent routing", "#agents-list"),
        ("SLA policies", "#sla-form"),
        ("Business hours", "#calendars-form"),
        ("Webchat", "#webchat-snippet"),
        ("Email inboxes", "#email-form"),
        ("SMS numbers", "#sms-form"),
        ("Phone menu (IVR)", "#ivr-options"),
    ):
        # Keyboard only: the section's link, then Enter; the keyboard lands on the section's heading.
        await page.get_by_role("link", name=name, exact=True).focus()
        await page.keyboard.press("Enter")
        await page.locator(ready).wait_for()
        focused = await page.evaluate("document.activeElement.textContent")
        assert focused == name, focused
        assert await serious_violations(page) == [], name
    # People without a routing profile yet answer 404, as the agent routing section expects.
    assert [e for e in tab.errors if "404" not in e] == []


async def test_the_webchat_section_gives_the_snippet_that_embeds_the_widget(
    browser: Any, server: LiveServer, admin: Person, key_api: httpx.AsyncClient
) -> None:
    tab = await signed_in(browser, server, admin, "#webchat")
    page = tab.page
    webchat = page.locator("#section-webchat")
    # Not set up yet: the form turns it on.
    form = webchat.get_by_role("form", name="Turn on webchat")
    await form.get_by_label("Greeting").fill("Hello! How can we help?")
    await form.get_by_label("Ask for the visitor's email").select_option("required")
    await form.get_by_role("button", name="Turn on webchat").click()
    snippet = webchat.get_by_label("Embed snippet")
    await snippet.wait_for()
    settings = (await key_api.get("/v1/channels/webchat/settings")).json()
    assert settings["greeting"] == "Hello! How can we help?"
    assert settings["prechat"]["email"] == "required"
    assert await snippet.input_value() == (
        f'<script src="{server.url}/widget/v1.js" data-tenant="{settings["widget_key"]}" async></script>'
    )
    assert await webchat.get_by_label("Greeting").input_value() == "Hello! How can we help?"
    # Copied, or (where the browser refuses the clipboard) selected for Ctrl+C: either way, the page says so.
    await webchat.get_by_role("button", name="Copy snippet").click()
    await webchat.get_by_role("status").filter(has_text="snippet").wait_for()
    # Before the first save the settings answered 404, which the form takes as "not set up yet".
    assert [e for e in tab.errors if "404" not in e] == []


async def test_an_admin_sets_up_routing_and_an_sla_in_business_hours(
    browser: Any, server: LiveServer, admin: Person, key_api: httpx.AsyncClient
) -> None:
    tab = await signed_in(browser, server, admin, "#queues")
    page = tab.page
    queues = page.locator("#section-queues")
    form = queues.get_by_role("form", name="Add a queue")
    await form.get_by_label("Name").fill("Billing")
    await form.get_by_role("checkbox", name="Email").check()
    await form.get_by_label("Strategy").select_option("least_busy")
    await form.get_by_label("Skills needed").fill("billing:3, spanish:2")
    await form.get_by_role("button", name="Add queue").click()
    await queues.locator("#queues-list tr", has_text="Least busy").wait_for()
    [queue] = (await key_api.get("/v1/routing/queues")).json()["data"]
    assert (queue["name"], queue["channels"], queue["strategy"], queue["skills"]) == (
        "Billing",
        ["email"],
        "least_busy",
        {"billing": 3, "spanish": 2},
    )
    # A level out of range: the API's problem names the field.
    await queues.get_by_role("button", name="Edit Billing").click()
    edit = queues.get_by_role("form", name="Edit Billing")
    await edit.get_by_label("Skills needed").fill("billing:9")
    await edit.get_by_role("button", name="Save changes").click()
    await edit.get_by_role("alert").filter(has_text="skills.billing").wait_for()
    assert await edit.get_by_label("Skills needed").get_attribute("aria-invalid") == "true"

    await page.get_by_role("link", name="Agent routing").click()
    agents = page.locator("#section-agents")
    profile = agents.get_by_role("form", name="Set a routing profile")
    await profile.get_by_label("Person").select_option(label="Ada (ada@acme.example)")
    await profile.get_by_label("Skills").fill("billing:4")
    await profile.get_by_label("Languages").fill("en, es")
    await profile.get_by_label("Email at once").fill("5")
    await profile.get_by_role("button", name="Save profile").click()
    await agents.locator("#agents-list tr", has_text="billing:4").wait_for()
    await agents.get_by_role("status").filter(has_text="Routing profile of Ada created.").wait_for()
    agent = (await key_api.get(f"/v1/routing/agents/{admin.user_id}")).json()
    assert (agent["skills"], agent["languages"], agent["capacity"]["email"]) == (
        {"billing": 4},
        ["en", "es"],
        5,
    )

    await page.get_by_role("link", name="Business hours").click()
    calendars = page.locator("#section-calendars")
    hours = calendars.get_by_role("form", name="Add business hours")
    await hours.get_by_label("Name").fill("Berlin office")
    await hours.get_by_label("Time zone").fill("Europe/Berlin")
    await hours.get_by_label("Monday").fill("09:00-12:00, 13:00-17:00")
    await hours.get_by_label("Friday").fill("22:00-06:00")
    await hours.get_by_label("Holidays").fill("2026-12-25 Christmas")
    await hours.get_by_role("button", name="Add calendar").click()
    await calendars.locator("#calendars-list tr", has_text="Berlin office").wait_for()
    [calendar] = (await key_api.get("/v1/sla/calendars")).json()["data"]
    assert calendar["hours"]["mon"] == [
        {"start": "09:00", "end": "12:00", "overnight": False},
        {"start": "13:00", "end": "17:00", "overnight": False},
    ]
    assert calendar["hours"]["fri"] == [{"start": "22:00", "end": "06:00", "overnight": True}]
    assert calendar["holidays"] == [{"date": "2026-12-25", "name": "Christmas"}]

    await page.get_by_role("link", name="SLA policies").click()
    policies = page.locator("#section-sla")
    policy = policies.get_by_role("form", name="Add an SLA policy")
    await policy.get_by_label("Name").fill("Billing email")
    await policy.get_by_label("Channel").select_option("email")
    await policy.get_by_label("Queue").select_option(label="Billing")
    await policy.get_by_label("Business hours").select_option(label="Berlin office")
    await policy.get_by_label("First response (seconds)").fill("3600")
    await policy.get_by_role("button", name="Add policy").click()
    row = policies.locator("#sla-list tr", has_text="Billing email")
    await row.wait_for()
    assert "first response 1 h" in (await row.text_content() or "")
    assert "Berlin office" in (await row.text_content() or "")
    [stored] = (await key_api.get("/v1/sla/policies")).json()["data"]
    assert (stored["channel"], stored["queue_id"], stored["calendar_id"]) == (
        "email",
        queue["id"],
        calendar["id"],
    )
    assert (stored["first_response_seconds"], stored["resolution_seconds"]) == (3600, None)
    assert [e for e in tab.errors if "404" not in e and "422" not in e] == []


async def test_an_admin_adds_an_inbox_and_removes_a_team_member(
    browser: Any,
    server: LiveServer,
    admin: Person,
    key_api: httpx.AsyncClient,
    runtime: Runtime,
    tenant: TenantKey,
) -> None:
    team = (await key_api.post("/v1/teams", json={"name": "Billing"})).json()
    await make_person(runtime, tenant.tenant_id, "ann@acme.example", "agent", None, [team["id"]])
    tab = await signed_in(browser, server, admin, "#email")
    page = tab.page
    page.on("dialog", lambda dialog: dialog.accept())
    inboxes = page.locator("#section-email")
    form = inboxes.get_by_role("form", name="Add an inbox")
    await form.get_by_label("Address").fill("support@acme.example")
    await form.get_by_label("Replies sent as").fill("Acme Support")
    await form.get_by_role("button", name="Add inbox").click()
    row = inboxes.locator("#email-list tr", has_text="support@acme.example")
    await row.wait_for()
    # The same address again: the API's conflict is shown.
    await form.get_by_label("Address").fill("support@acme.example")
    await form.get_by_role("button", name="Add inbox").click()
    await form.get_by_role("alert").wait_for()
    assert "support@acme.example" in (await form.get_by_role("alert").text_content() or "")
    assert len((await key_api.get("/v1/channels/email/inboxes")).json()["data"]) == 1

    await row.get_by_role("button", name="Delete support@acme.example").click()
    await inboxes.get_by_text("No inboxes yet.").wait_for()
    assert (await key_api.get("/v1/channels/email/inboxes")).json()["data"] == []

    await page.get_by_role("link", name="Teams").click()
    teams = page.locator("#section-teams")
    await teams.get_by_role("button", name="Remove Ann from Billing").click()
    await teams.get_by_role("status").filter(has_text="Ann left Billing.").wait_for()
    assert (await key_api.get("/v1/teams")).json()["data"][0]["member_ids"] == []
    membership = teams.get_by_role("form", name="Add a member")
    await membership.get_by_label("Person").select_option(label="Ann (ann@acme.example)")
    await membership.get_by_role("button", name="Add to team").click()
    await teams.get_by_role("status").filter(has_text="Ann joined Billing.").wait_for()
    await teams.get_by_role("button", name="Remove Ann from Billing").wait_for()
    assert [e for e in tab.errors if "409" not in e] == []
