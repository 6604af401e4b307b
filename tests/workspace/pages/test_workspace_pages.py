"""The workspace's pages over HTTP: who gets them, the headers that keep them safe, and how a tenant's
people are offered to sign in."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from tests.conftest import TenantKey
from tests.governance.staff.people import make_person, sign_in
from tests.workspace.conftest import Desk

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff.oidc import set_oidc_provider
from cxstack.governance.staff.schemas import OidcProviderIn
from cxstack.runtime import Runtime
from cxstack.workspace import assets

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_the_workspace_without_a_session_sends_the_browser_to_sign_in(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/app")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/sign-in?next=%2Fapp"
    client.cookies.set("cxstack_session", "not-a-session")
    assert (await client.get("/app")).headers["location"] == "/app/sign-in?next=%2Fapp"


async def test_the_workspace_shows_who_is_signed_in_and_is_not_in_the_api_document(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    person = await make_person(runtime, tenant.tenant_id, "ann@acme.example", "agent", "ann password 1234")
    csrf = await sign_in(client, person)
    page = await client.get("/app")
    assert page.status_code == 200, page.text
    assert '<span id="person-name">Ann</span>' in page.text
    assert '<p class="tenant" id="tenant-name">Acme</p>' in page.text
    assert f'<meta name="csrf-token" content="{csrf}">' in page.text
    assert f'user-id="{person.user_id}"' in page.text
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith("/app")]


async def test_pages_allow_only_their_own_scripts_and_no_frames(client: httpx.AsyncClient) -> None:
    page = await client.get("/app/sign-in")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    # The one inline script, the import map, is allowed by its hash, and it is what the page holds.
    inline = re.findall(r"<script type=\"importmap\">(.*?)</script>", page.text, re.S)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}'" in policy
    assert len(re.findall(r"<script", page.text)) == 2  # the import map and the page's module
    # What the import map names is served from this origin.
    lit = await client.get("/assets/vendor/lit/index.js")
    assert lit.status_code == 200 and "javascript" in lit.headers["content-type"]
    assert (await client.get("/app/static/workspace.js")).status_code == 200


async def test_sign_in_offers_the_company_account_only_for_a_tenant_with_oidc(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    plain = await client.get("/app/sign-in", params={"tenant": "acme"})
    assert 'value="acme"' in plain.text and "company account" not in plain.text

    def configure(uow: UnitOfWork) -> object:
        data = OidcProviderIn(issuer="https://login.acme.example", client_id="cx", client_secret="s3cret")
        return set_oidc_provider(
            uow, tenant_id=tenant.tenant_id, data=data, allow_http=False, public_url="http://testserver"
        )

    await runtime.db.write(configure)
    page = await client.get("/app/sign-in", params={"tenant": "ACME", "next": "/app?x=1"})
    link = '<a id="oidc-sign-in" href="/v1/auth/oidc/acme/start?next=%2Fapp%3Fx%3D1">'
    assert link in page.text and "Sign in with your company account" in page.text
    # An unknown tenant looks like one without OIDC; a next of another site goes to the workspace.
    other = await client.get("/app/sign-in", params={"tenant": "nobody", "next": "https://evil.example"})
    assert "company account" not in other.text and 'data-next="/app"' in other.text


async def test_pages_say_what_to_run_when_the_browser_libraries_are_missing(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(assets, "NODE_MODULES", tmp_path)
    page = await client.get("/app/sign-in")
    assert page.status_code == 503 and "make assets" in page.text


async def test_a_conversation_page_shows_its_header_to_who_sees_it_and_404_to_others(desk: Desk) -> None:
    ann = desk.browsers["agent_a"]
    page = await ann.get(f"/app/conversations/{desk.conversations['a']}")
    assert page.status_code == 200, page.text
    assert '<h1 id="customer-name">Carol Jones</h1>' in page.text
    assert '<dd id="conversation-channel">email</dd>' in page.text
    assert 'data-status="open">open</dd>' in page.text
    assert '<dd id="conversation-assignee">Nobody</dd>' in page.text
    assert page.headers["content-security-policy"] == assets.CONTENT_SECURITY_POLICY
    # Team B's conversation and one that does not exist answer the same page: nothing tells them apart.
    other = await ann.get(f"/app/conversations/{desk.conversations['b']}")
    unknown = await ann.get("/app/conversations/cnv_00000000000000000000000000")
    assert other.status_code == unknown.status_code == 404
    assert other.text == unknown.text and "Conversation not found" in other.text
    assert "Carol" not in other.text and "Refund" not in other.text
    assert other.headers["content-security-policy"] == assets.CONTENT_SECURITY_POLICY
    # Bob, of team B, sees it.
    assert (
        await desk.browsers["agent_b"].get(f"/app/conversations/{desk.conversations['b']}")
    ).status_code == 200


async def test_a_conversation_page_without_a_session_goes_to_sign_in_and_back(desk: Desk) -> None:
    path = f"/app/conversations/{desk.conversations['a']}"
    answer = await desk.api.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/sign-in?" + urlencode({"next": path})
