"""People sign in with a password and get a server-side session in a cookie: its flags, CSRF on writes,
sign-out, lifetimes, lock-out, and the same answer for every kind of wrong credentials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tests.conftest import TenantKey
from tests.governance.staff.people import AGENT_PASSWORD, Person, make_person, problem_of, sign_in

from cxstack.config import AuthSettings
from cxstack.kit.clock import FrozenClock
from cxstack.runtime import Runtime


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def agent(runtime: Runtime, tenant: TenantKey) -> Person:
    return await make_person(runtime, tenant.tenant_id, "Ana@Acme.example", "agent", AGENT_PASSWORD)


async def test_sign_in_sets_a_session_cookie_that_signs_the_user_in_until_sign_out(
    browser: httpx.AsyncClient, agent: Person
) -> None:
    answer = await browser.post(
        "/v1/auth/sign-in", json={"tenant": "acme", "email": " ANA@acme.EXAMPLE ", "password": AGENT_PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["user"]["id"] == agent.user_id and body["user"]["email"] == "ana@acme.example"
    assert body["user"]["role"] == "agent" and "password_hash" not in body["user"]
    cookie = answer.headers["set-cookie"]
    token = browser.cookies["cxstack_session"]
    assert cookie.startswith(f"cxstack_session={token};")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= flags

    me = await browser.get("/v1/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["user"]["id"] == agent.user_id and me.json()["csrf_token"] == body["csrf_token"]
    assert (await browser.get("/v1/customers")).status_code == 200

    # Signing out needs the CSRF token too; then the session is gone on the server.
    refused = await browser.post("/v1/auth/sign-out")
    assert refused.status_code == 403 and problem_of(refused)["code"] == "csrf_invalid"
    out = await browser.post("/v1/auth/sign-out", headers={"X-CSRF-Token": body["csrf_token"]})
    assert out.status_code == 204
    assert "cxstack_session" not in browser.cookies
    browser.cookies.set("cxstack_session", token, domain="cxstack.test")  # a copy kept elsewhere
    again = await browser.get("/v1/customers")
    assert again.status_code == 401 and problem_of(again)["code"] == "session_invalid"


async def test_the_cookie_is_not_secure_only_when_the_setting_says_so(
    runtime: Runtime, browser: httpx.AsyncClient, agent: Person
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"auth": AuthSettings(cookie_secure=False)})
    answer = await browser.post(
        "/v1/auth/sign-in", json={"tenant": "acme", "email": agent.email, "password": AGENT_PASSWORD}
    )
    flags = {part.strip().lower() for part in answer.headers["set-cookie"].split(";")[1:]}
    assert "httponly" in flags and "samesite=lax" in flags and "secure" not in flags


async def test_wrong_password_unknown_user_and_disabled_user_get_the_same_401(
    browser: httpx.AsyncClient,
    key_client: httpx.AsyncClient,
    runtime: Runtime,
    tenant: TenantKey,
    agent: Person,
) -> None:
    disabled = await make_person(runtime, tenant.tenant_id, "gone@acme.example", "agent", AGENT_PASSWORD)
    assert (await key_client.post(f"/v1/users/{disabled.user_id}/disable")).status_code == 200
    attempts = [
        {"tenant": "acme", "email": agent.email, "password": "not the password"},
        {"tenant": "acme", "email": "nobody@acme.example", "password": AGENT_PASSWORD},
        {"tenant": "acme", "email": disabled.email, "password": AGENT_PASSWORD},
        {"tenant": "no-such-tenant", "email": agent.email, "password": AGENT_PASSWORD},
    ]
    problems = []
    for attempt in attempts:
        answer = await browser.post("/v1/auth/sign-in", json=attempt)
        assert answer.status_code == 401, answer.text
        assert "set-cookie" not in answer.headers
        problems.append(problem_of(answer))
    assert all(problem == problems[0] for problem in problems), problems
    assert problems[0]["code"] == "sign_in_failed"


async def test_cookie_writes_need_the_sessions_csrf_token(browser: httpx.AsyncClient, agent: Person) -> None:
    csrf = await sign_in(browser, agent)
    customer = {"name": "Jane Doe", "email": "jane@example.com"}
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        refused = await browser.post("/v1/customers", json=customer, headers=headers)
        assert refused.status_code == 403, refused.text
        problem = problem_of(refused)
        assert problem["code"] == "csrf_invalid" and problem["field"] == "X-CSRF-Token"
    assert (await browser.get("/v1/customers")).json()["data"] == []  # nothing was written
    created = await browser.post("/v1/customers", json=customer, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text


async def test_an_api_key_is_taken_over_a_cookie_and_needs_no_csrf_token(
    browser: httpx.AsyncClient, tenant: TenantKey, agent: Person
) -> None:
    await sign_in(browser, agent)
    created = await browser.post("/v1/customers", json={"name": "Jo"}, headers=tenant.headers)
    assert created.status_code == 201, created.text


async def test_an_account_locks_after_five_failures_and_unlocks_fifteen_minutes_later(
    browser: httpx.AsyncClient, agent: Person, clock: FrozenClock
) -> None:
    wrong = {"tenant": "acme", "email": agent.email, "password": "wrong password 1"}
    right = {"tenant": "acme", "email": agent.email, "password": AGENT_PASSWORD}
    for _ in range(4):
        assert (await browser.post("/v1/auth/sign-in", json=wrong)).status_code == 401
    locked = await browser.post("/v1/auth/sign-in", json=wrong)
    assert locked.status_code == 423, locked.text
    problem = problem_of(locked)
    assert problem["code"] == "account_locked" and "locked until" in problem["detail"]
    until = datetime.fromisoformat(problem["locked_until"])
    assert until == clock.now() + timedelta(minutes=15)
    # The right password does not open a locked account.
    assert (await browser.post("/v1/auth/sign-in", json=right)).status_code == 423
    clock.advance(timedelta(minutes=14, seconds=59))
    assert (await browser.post("/v1/auth/sign-in", json=right)).status_code == 423
    clock.advance(timedelta(seconds=1))
    opened = await browser.post("/v1/auth/sign-in", json=right)
    assert opened.status_code == 200, opened.text
    assert opened.json()["user"]["locked_until"] is None


async def test_a_success_clears_the_failures_before_it(browser: httpx.AsyncClient, agent: Person) -> None:
    wrong = {"tenant": "acme", "email": agent.email, "password": "wrong password 1"}
    for _ in range(4):
        assert (await browser.post("/v1/auth/sign-in", json=wrong)).status_code == 401
    await sign_in(browser, agent)
    for _ in range(4):
        assert (await browser.post("/v1/auth/sign-in", json=wrong)).status_code == 401


async def test_a_session_ends_when_idle_and_at_its_absolute_end(
    browser: httpx.AsyncClient, runtime: Runtime, agent: Person, clock: FrozenClock
) -> None:
    await sign_in(browser, agent)
    # Used every 100 minutes, it lives on (the idle lifetime is 120)...
    for _ in range(7):
        clock.advance(timedelta(minutes=100))
        assert (await browser.get("/v1/auth/me")).status_code == 200
        await runtime.services.key_usage.drain()
    # ...but not past 12 hours after sign-in.
    clock.advance(timedelta(minutes=100))
    ended = await browser.get("/v1/auth/me")
    assert ended.status_code == 401 and problem_of(ended)["code"] == "session_invalid"

    await sign_in(browser, agent)
    clock.advance(timedelta(minutes=119))
    assert (await browser.get("/v1/customers")).status_code == 200
    await runtime.services.key_usage.drain()
    clock.advance(timedelta(minutes=121))
    idle = await browser.get("/v1/customers")
    assert idle.status_code == 401 and problem_of(idle)["code"] == "session_invalid"


async def test_a_disabled_users_session_is_refused_at_once(
    browser: httpx.AsyncClient, key_client: httpx.AsyncClient, agent: Person
) -> None:
    await sign_in(browser, agent)
    assert (await browser.get("/v1/customers")).status_code == 200
    disabled = await key_client.post(f"/v1/users/{agent.user_id}/disable")
    assert disabled.status_code == 200 and disabled.json()["disabled_at"] is not None
    refused = await browser.get("/v1/customers")
    assert refused.status_code == 401 and problem_of(refused)["code"] == "session_invalid"


async def test_sign_in_input_is_checked(browser: httpx.AsyncClient) -> None:
    answer = await browser.post("/v1/auth/sign-in", json={"tenant": "acme", "email": "a@acme.example"})
    assert answer.status_code == 422 and problem_of(answer)["field"] == "password"
    assert (await browser.get("/v1/auth/me")).status_code == 401


async def test_a_session_reads_its_own_tenants_records_only(
    browser: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    # The same email in another tenant is another person.
    theirs = await make_person(
        runtime, other_tenant.tenant_id, "sup@acme.example", "admin", "their password 123"
    )
    supervisor = await make_person(
        runtime, tenant.tenant_id, "sup@acme.example", "supervisor", AGENT_PASSWORD
    )
    await sign_in(browser, supervisor)
    assert (await browser.get("/v1/auth/me")).json()["user"]["id"] == supervisor.user_id
    listed = (await browser.get("/v1/users")).json()["data"]
    assert [user["id"] for user in listed] == [supervisor.user_id]
    assert (await browser.get(f"/v1/users/{theirs.user_id}")).status_code == 404
    wrong = await browser.post(
        "/v1/auth/sign-in", json={"tenant": "acme", "email": theirs.email, "password": theirs.password}
    )
    assert wrong.status_code == 401
    assert (
        await browser.post(
            "/v1/auth/sign-in", json={"tenant": "globex", "email": theirs.email, "password": theirs.password}
        )
    ).status_code == 200
