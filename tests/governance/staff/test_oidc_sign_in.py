"""People sign in through their tenant's OpenID Connect provider (a fake one on a real port, reached over
HTTP by the server): the same session cookie and CSRF token as a password sign-in, the state once and
in the browser that started it, ID tokens checked, only known and enabled users (or new agents when the
provider provisions), and ``next`` kept on this site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc.jwk import RSAKey
from tests.conftest import TenantKey
from tests.governance.staff.conftest import OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI
from tests.governance.staff.fake_oidc import FakeOidcProvider
from tests.governance.staff.people import AGENT_PASSWORD, Person, make_person, problem_of

from cxstack.kit.clock import FrozenClock
from cxstack.runtime import Runtime
from cxstack.web.app import create_app


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def agent(runtime: Runtime, tenant: TenantKey) -> Person:
    return await make_person(runtime, tenant.tenant_id, "ana@acme.example", "agent", AGENT_PASSWORD)


async def configure(key_client: httpx.AsyncClient, idp: FakeOidcProvider, **changes: Any) -> dict[str, Any]:
    """Set the ``acme`` tenant's provider to the fake, as an admin would."""
    body = {
        "issuer": idp.issuer,
        "client_id": OIDC_CLIENT_ID,
        "client_secret": OIDC_CLIENT_SECRET,
        **changes,
    }
    answer = await key_client.put("/v1/auth/oidc/provider", json=body)
    assert answer.status_code == 200, answer.text
    configured: dict[str, Any] = answer.json()
    return configured


@pytest.fixture
async def provider(key_client: httpx.AsyncClient, idp: FakeOidcProvider) -> dict[str, Any]:
    return await configure(key_client, idp)


async def to_provider(browser: httpx.AsyncClient, *, tenant: str = "acme", then: str | None = None) -> str:
    """Start signing in on ``browser`` (going to ``then`` afterwards); return the provider URL it is sent
    to."""
    params = {"next": then} if then is not None else {}
    started = await browser.get(f"/v1/auth/oidc/{tenant}/start", params=params)
    assert started.status_code == 302, started.text
    return started.headers["location"]


async def at_provider(location: str) -> str:
    """Visit the provider's authorization URL (it approves at once); return the callback URL it sends the
    browser back to."""
    async with httpx.AsyncClient() as outside:
        approved = await outside.get(location)
    assert approved.status_code == 302, approved.text
    back = approved.headers["location"]
    assert back.startswith(OIDC_REDIRECT_URI + "?"), back
    return back


async def back_from_provider(browser: httpx.AsyncClient, callback: str) -> httpx.Response:
    """Follow the provider's redirect to cxstack's callback on ``browser``."""
    return await browser.get("/v1/auth/oidc/callback?" + urlsplit(callback).query)


async def oidc_sign_in(browser: httpx.AsyncClient, *, then: str | None = None) -> httpx.Response:
    return await back_from_provider(browser, await at_provider(await to_provider(browser, then=then)))


async def test_signing_in_through_the_provider_sets_the_same_session_as_a_password(
    browser: httpx.AsyncClient,
    key_client: httpx.AsyncClient,
    idp: FakeOidcProvider,
    provider: dict[str, Any],
    agent: Person,
) -> None:
    location = await to_provider(browser, then="/inbox?tab=mine")
    sent = urlsplit(location)
    assert f"{sent.scheme}://{sent.netloc}{sent.path}" == f"{idp.url}/authorize"
    asked = {name: values[0] for name, values in parse_qs(sent.query).items()}
    assert asked["response_type"] == "code" and asked["client_id"] == OIDC_CLIENT_ID
    assert asked["redirect_uri"] == OIDC_REDIRECT_URI == provider["redirect_uri"]
    assert asked["scope"].split() == ["openid", "email", "profile"]
    assert asked["code_challenge_method"] == "S256" and asked["code_challenge"]
    assert asked["state"] and asked["nonce"] and asked["state"] != asked["nonce"]

    back = await back_from_provider(browser, await at_provider(location))
    assert back.status_code == 303, back.text
    assert back.headers["location"] == "/inbox?tab=mine"
    cookie = next(c for c in back.headers.get_list("set-cookie") if c.startswith("cxstack_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= flags
    # The code went to the token endpoint with the PKCE verifier and the client's own credentials.
    (exchange,) = idp.token_requests
    assert exchange["grant_type"] == "authorization_code" and exchange["code_verifier"]
    assert "client_secret" not in exchange  # client_secret_basic: in the Authorization header

    me = await browser.get("/v1/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["user"]["id"] == agent.user_id
    csrf = me.json()["csrf_token"]
    refused = await browser.post("/v1/customers", json={"name": "Jo"})
    assert refused.status_code == 403 and problem_of(refused)["code"] == "csrf_invalid"
    created = await browser.post("/v1/customers", json={"name": "Jo"}, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text

    audit = (await key_client.get("/v1/audit", params={"action": "user.signed_in"})).json()["data"]
    assert [(entry["actor"], entry["detail"]["through"]) for entry in audit] == [
        (f"user:{agent.user_id}", "oidc")
    ]
    out = await browser.post("/v1/auth/sign-out", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert (await browser.get("/v1/auth/me")).status_code == 401


async def test_the_client_authenticates_by_post_when_the_provider_says_so(
    browser: httpx.AsyncClient, key_client: httpx.AsyncClient, idp: FakeOidcProvider, agent: Person
) -> None:
    idp.auth_method = "client_secret_post"
    await configure(key_client, idp)
    back = await oidc_sign_in(browser)
    assert back.status_code == 303, back.text
    (exchange,) = idp.token_requests
    assert exchange["client_id"] == OIDC_CLIENT_ID and exchange["client_secret"] == OIDC_CLIENT_SECRET


async def test_the_discovery_document_is_read_once_for_many_sign_ins(
    browser: httpx.AsyncClient, idp: FakeOidcProvider, provider: dict[str, Any], agent: Person
) -> None:
    for _ in range(3):
        assert (await oidc_sign_in(browser)).status_code == 303
    assert idp.discovery_requests == 1


async def test_a_state_is_taken_once_and_only_in_the_browser_that_started_it(
    runtime: Runtime, browser: httpx.AsyncClient, provider: dict[str, Any], agent: Person
) -> None:
    callback = await at_provider(await to_provider(browser))
    # Another browser (an attacker's link to their own sign-in) is refused, and spends nothing.
    transport = httpx.ASGITransport(app=create_app(runtime, manage_runtime=False))
    async with httpx.AsyncClient(transport=transport, base_url=str(browser.base_url)) as elsewhere:
        refused = await back_from_provider(elsewhere, callback)
        assert refused.status_code == 400, refused.text
        assert problem_of(refused)["code"] == "oidc_state_invalid" and problem_of(refused)["field"] == "state"
        assert "cxstack_session" not in elsewhere.cookies
    assert (await back_from_provider(browser, callback)).status_code == 303
    again = await back_from_provider(browser, callback)
    assert again.status_code == 400 and problem_of(again)["code"] == "oidc_state_invalid"
    missing = await browser.get("/v1/auth/oidc/callback", params={"code": "x"})
    assert missing.status_code == 400 and problem_of(missing)["code"] == "oidc_state_invalid"


async def test_a_sign_in_left_at_the_provider_over_ten_minutes_is_refused(
    browser: httpx.AsyncClient, provider: dict[str, Any], agent: Person, clock: FrozenClock
) -> None:
    callback = await at_provider(await to_provider(browser))
    clock.advance(timedelta(minutes=10))
    late = await back_from_provider(browser, callback)
    assert late.status_code == 400 and problem_of(late)["code"] == "oidc_state_invalid"
    assert (await browser.get("/v1/auth/me")).status_code == 401


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"aud": "another-client"}, "'aud'"),
        ({"nonce": "a-nonce-of-another-sign-in"}, "'nonce'"),
        ({"nonce": None}, "nonce"),
        ({"iss": "https://impostor.example"}, "'iss'"),
        ({"exp": int(datetime.now(UTC).timestamp()) - 3600}, "expired"),
        ({"email_verified": False}, "not verified"),
    ],
)
async def test_an_id_token_that_is_not_right_signs_nobody_in(
    browser: httpx.AsyncClient,
    idp: FakeOidcProvider,
    provider: dict[str, Any],
    agent: Person,
    changes: dict[str, Any],
    expected: str,
) -> None:
    idp.id_token_changes = changes
    refused = await oidc_sign_in(browser)
    assert refused.status_code == 401, refused.text
    problem = problem_of(refused)
    assert problem["code"] == "oidc_token_invalid" and expected in problem["detail"], problem
    assert "cxstack_session" not in browser.cookies
    assert (await browser.get("/v1/auth/me")).status_code == 401


async def test_an_id_token_signed_with_another_key_signs_nobody_in(
    browser: httpx.AsyncClient, idp: FakeOidcProvider, provider: dict[str, Any], agent: Person
) -> None:
    idp.sign_with = RSAKey.generate_key(2048)
    refused = await oidc_sign_in(browser)
    assert refused.status_code == 401 and problem_of(refused)["code"] == "oidc_token_invalid"
    assert "signature" in problem_of(refused)["detail"]
    assert "cxstack_session" not in browser.cookies


async def test_an_unknown_email_is_refused_unless_the_provider_provisions_people(
    browser: httpx.AsyncClient, key_client: httpx.AsyncClient, idp: FakeOidcProvider
) -> None:
    await configure(key_client, idp)
    idp.person = {"sub": "idp-new", "email": "New.Person@acme.example", "name": "New Person"}
    refused = await oidc_sign_in(browser)
    assert refused.status_code == 403, refused.text
    assert problem_of(refused)["code"] == "oidc_user_unknown"
    assert (await key_client.get("/v1/users")).json()["data"] == []

    configured = await configure(key_client, idp, provision_users=True)
    back = await oidc_sign_in(browser)
    assert back.status_code == 303, back.text
    me = (await browser.get("/v1/auth/me")).json()["user"]
    assert (me["email"], me["name"], me["role"], me["has_password"]) == (
        "new.person@acme.example",
        "New Person",
        "agent",
        False,
    )
    created = (await key_client.get("/v1/audit", params={"action": "user.created"})).json()["data"]
    set_entries = (await key_client.get("/v1/audit", params={"action": "oidc_provider.set"})).json()["data"]
    assert [entry["actor"] for entry in created] == [f"oidc_provider:{set_entries[0]['target_id']}"]
    assert configured["provision_users"] is True


async def test_a_disabled_user_is_refused_and_a_locked_one_gets_the_same_423_as_with_a_password(
    browser: httpx.AsyncClient,
    key_client: httpx.AsyncClient,
    provider: dict[str, Any],
    agent: Person,
) -> None:
    wrong = {"tenant": "acme", "email": agent.email, "password": "wrong password 1"}
    for _ in range(5):
        await browser.post("/v1/auth/sign-in", json=wrong)
    locked = await oidc_sign_in(browser)
    assert locked.status_code == 423, locked.text
    assert problem_of(locked)["code"] == "account_locked" and "locked_until" in problem_of(locked)

    assert (await key_client.post(f"/v1/users/{agent.user_id}/disable")).status_code == 200
    disabled = await oidc_sign_in(browser)
    assert disabled.status_code == 403 and problem_of(disabled)["code"] == "oidc_user_disabled"
    assert "cxstack_session" not in browser.cookies


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/inbox", "/\\evil.example", "javascript:alert(1)", "inbox"],
)
async def test_next_never_leads_to_another_site(
    browser: httpx.AsyncClient, provider: dict[str, Any], agent: Person, target: str
) -> None:
    back = await oidc_sign_in(browser, then=target)
    assert back.status_code == 303 and back.headers["location"] == "/"


async def test_a_person_who_declines_at_the_provider_is_not_signed_in(
    browser: httpx.AsyncClient, idp: FakeOidcProvider, provider: dict[str, Any], agent: Person
) -> None:
    idp.deny = "access_denied"
    refused = await oidc_sign_in(browser)
    assert refused.status_code == 401, refused.text
    problem = problem_of(refused)
    assert problem["code"] == "oidc_provider_refused" and problem["error"] == "access_denied"


async def test_a_spent_code_is_refused_by_the_provider_and_so_by_cxstack(
    browser: httpx.AsyncClient, idp: FakeOidcProvider, provider: dict[str, Any], agent: Person
) -> None:
    callback = await at_provider(await to_provider(browser))
    idp.codes.clear()  # the provider no longer honours the code
    refused = await back_from_provider(browser, callback)
    assert refused.status_code == 401 and problem_of(refused)["code"] == "oidc_code_refused"
    assert problem_of(refused)["error"] == "invalid_grant"


async def test_a_tenant_without_a_provider_and_an_unreachable_provider(
    browser: httpx.AsyncClient, key_client: httpx.AsyncClient, other_tenant: TenantKey
) -> None:
    for slug in ("globex", "no-such-tenant"):
        answer = await browser.get(f"/v1/auth/oidc/{slug}/start")
        assert answer.status_code == 404 and problem_of(answer)["code"] == "oidc_not_configured"
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens
    answer = await key_client.put(
        "/v1/auth/oidc/provider",
        json={"issuer": closed, "client_id": OIDC_CLIENT_ID, "client_secret": OIDC_CLIENT_SECRET},
    )
    assert answer.status_code == 200, answer.text
    unreachable = await browser.get("/v1/auth/oidc/acme/start")
    assert unreachable.status_code == 502, unreachable.text
    assert problem_of(unreachable)["code"] == "oidc_provider_unreachable"
    assert "cxstack_oidc" not in browser.cookies
