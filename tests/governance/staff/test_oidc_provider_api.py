"""Admins set, read and remove their tenant's OIDC provider: never shown its secret, refused input named
and nothing written, other roles refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.conftest import TenantKey
from tests.governance.staff.conftest import OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI
from tests.governance.staff.fake_oidc import FakeOidcProvider
from tests.governance.staff.people import AGENT_PASSWORD, Person, make_person, problem_of, sign_in

from cxstack.config import AuthSettings
from cxstack.runtime import Runtime
from cxstack.web.app import create_app

ISSUER = "https://login.acme.example/realms/staff"


def provider_body(**changes: Any) -> dict[str, Any]:
    return {"issuer": ISSUER, "client_id": OIDC_CLIENT_ID, "client_secret": OIDC_CLIENT_SECRET, **changes}


async def test_an_admin_sets_reads_and_removes_the_provider_and_never_sees_the_secret(
    browser: httpx.AsyncClient, key_client: httpx.AsyncClient, admin: Person
) -> None:
    csrf = await sign_in(browser, admin)
    assert (await browser.get("/v1/auth/oidc/provider")).status_code == 404
    answer = await browser.put(
        "/v1/auth/oidc/provider",
        json=provider_body(scopes=["openid", "email"], provision_users=True, email_claim="upn"),
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert OIDC_CLIENT_SECRET not in answer.text and "client_secret" not in body
    assert body["issuer"] == ISSUER and body["client_id"] == OIDC_CLIENT_ID and body["has_client_secret"]
    assert (body["scopes"], body["provision_users"], body["email_claim"]) == (
        ["openid", "email"],
        True,
        "upn",
    )
    assert body["redirect_uri"] == OIDC_REDIRECT_URI
    assert body["sign_in_url"] == "https://cx.acme.example/v1/auth/oidc/acme/start"
    read = await browser.get("/v1/auth/oidc/provider")
    assert read.status_code == 200 and read.json() == body
    # The audit log names the change, never the secret.
    audit = await key_client.get("/v1/audit", params={"action": "oidc_provider.set"})
    assert [entry["actor"] for entry in audit.json()["data"]] == [f"user:{admin.user_id}"]
    assert OIDC_CLIENT_SECRET not in audit.text

    # Changing the provider without a secret keeps the stored one.
    changed = await key_client.put("/v1/auth/oidc/provider", json={"issuer": ISSUER, "client_id": "other"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["client_id"] == "other" and changed.json()["has_client_secret"]
    assert changed.json()["scopes"] == ["openid", "email", "profile"]

    removed = await browser.delete("/v1/auth/oidc/provider", headers={"X-CSRF-Token": csrf})
    assert removed.status_code == 204, removed.text
    gone = await browser.get("/v1/auth/oidc/provider")
    assert gone.status_code == 404 and problem_of(gone)["code"] == "oidc_not_configured"
    start = await browser.get("/v1/auth/oidc/acme/start")
    assert start.status_code == 404 and problem_of(start)["code"] == "oidc_not_configured"
    assert (await browser.delete("/v1/auth/oidc/provider", headers={"X-CSRF-Token": csrf})).status_code == 404


@pytest.mark.parametrize("role", ["agent", "supervisor"])
async def test_only_admins_may_see_or_change_the_provider(
    browser: httpx.AsyncClient, key_client: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey, role: str
) -> None:
    assert (await key_client.put("/v1/auth/oidc/provider", json=provider_body())).status_code == 200
    person = await make_person(runtime, tenant.tenant_id, f"{role}@acme.example", role, AGENT_PASSWORD)
    csrf = await sign_in(browser, person)
    headers = {"X-CSRF-Token": csrf}
    for method, body in (("GET", None), ("PUT", provider_body(client_id="mine")), ("DELETE", None)):
        refused = await browser.request(method, "/v1/auth/oidc/provider", json=body, headers=headers)
        assert refused.status_code == 403, (method, refused.text)
        assert problem_of(refused)["code"] == "missing_scope"
    assert (await key_client.get("/v1/auth/oidc/provider")).json()["client_id"] == OIDC_CLIENT_ID
    # Nobody signed in at all.
    transport = httpx.ASGITransport(app=create_app(runtime, manage_runtime=False))
    async with httpx.AsyncClient(transport=transport, base_url=str(browser.base_url)) as nobody:
        assert (await nobody.get("/v1/auth/oidc/provider")).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (provider_body(issuer="ftp://login.acme.example"), "issuer"),
        (provider_body(issuer="not a url"), "issuer"),
        (provider_body(issuer="https://login.acme.example/?tenant=1"), "issuer"),
        (provider_body(issuer=""), "issuer"),
        (provider_body(client_id=" "), "client_id"),
        (provider_body(scopes=["email", "profile"]), "scopes"),
        (provider_body(scopes=["openid", "two words"]), "scopes"),
        (provider_body(email_claim="an email"), "email_claim"),
        ({"issuer": ISSUER, "client_id": OIDC_CLIENT_ID}, "client_secret"),
        (provider_body(extra="x"), "extra"),
    ],
)
async def test_bad_input_is_named_and_writes_nothing(
    key_client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    refused = await key_client.put("/v1/auth/oidc/provider", json=body)
    assert refused.status_code == 422, refused.text
    assert problem_of(refused)["field"] == field, problem_of(refused)
    assert (await key_client.get("/v1/auth/oidc/provider")).status_code == 404
    audit = await key_client.get("/v1/audit", params={"action": "oidc_provider.set"})
    assert audit.json()["data"] == []


async def test_a_plain_http_issuer_needs_the_setting(
    runtime: Runtime, key_client: httpx.AsyncClient, idp: FakeOidcProvider
) -> None:
    assert idp.issuer.startswith("http://")
    runtime.settings = runtime.settings.model_copy(
        update={"auth": AuthSettings(public_url="https://cx.acme.example", oidc_allow_http=False)}
    )
    refused = await key_client.put("/v1/auth/oidc/provider", json=provider_body(issuer=idp.issuer))
    assert refused.status_code == 422 and problem_of(refused)["field"] == "issuer"
    assert "CXSTACK_AUTH_OIDC_ALLOW_HTTP" in problem_of(refused)["detail"]
    runtime.settings = runtime.settings.model_copy(
        update={"auth": AuthSettings(public_url="https://cx.acme.example", oidc_allow_http=True)}
    )
    taken = await key_client.put("/v1/auth/oidc/provider", json=provider_body(issuer=idp.issuer))
    assert taken.status_code == 200, taken.text


async def test_each_tenant_has_its_own_provider(
    key_client: httpx.AsyncClient, browser: httpx.AsyncClient, other_tenant: TenantKey
) -> None:
    assert (await key_client.put("/v1/auth/oidc/provider", json=provider_body())).status_code == 200
    theirs = await browser.get("/v1/auth/oidc/provider", headers=other_tenant.headers)
    assert theirs.status_code == 404 and ISSUER not in theirs.text
    set_theirs = await browser.put(
        "/v1/auth/oidc/provider",
        json=provider_body(issuer="https://login.globex.example"),
        headers=other_tenant.headers,
    )
    assert set_theirs.status_code == 200, set_theirs.text
    assert (await key_client.get("/v1/auth/oidc/provider")).json()["issuer"] == ISSUER
