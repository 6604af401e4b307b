"""The wallboard page over HTTP: only supervisors and admins get it (an agent a 403 page that says so),
with the workspace's headers; the workspace's header links to it for them only."""

from __future__ import annotations

import httpx
import pytest
from tests.conftest import TenantKey
from tests.governance.staff.people import make_person, sign_in

from cxstack.runtime import Runtime
from cxstack.workspace import assets

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_the_wallboard_without_a_session_sends_the_browser_to_sign_in(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/app/wallboard")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/sign-in?next=%2Fapp%2Fwallboard"
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("role", ["supervisor", "admin"])
async def test_supervisors_and_admins_get_the_wallboard_and_a_link_to_it(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey, role: str
) -> None:
    person = await make_person(runtime, tenant.tenant_id, "sue@acme.example", role, "sue password 1234")
    csrf = await sign_in(client, person)
    page = await client.get("/app/wallboard")
    assert page.status_code == 200, page.text
    assert page.headers["content-security-policy"] == assets.CONTENT_SECURITY_POLICY
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert "<h1>Wallboard</h1>" in page.text and '<span id="person-name">Sue</span>' in page.text
    assert f'<meta name="csrf-token" content="{csrf}">' in page.text
    assert '<script type="module" src="/app/static/wallboard.js"></script>' in page.text
    assert (await client.get("/app/static/wallboard.js")).status_code == 200
    workspace = await client.get("/app")
    assert '<a id="wallboard-link" href="/app/wallboard">Wallboard</a>' in workspace.text


async def test_an_agent_is_told_the_wallboard_is_not_for_them(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    person = await make_person(runtime, tenant.tenant_id, "ann@acme.example", "agent", "ann password 1234")
    await sign_in(client, person)
    page = await client.get("/app/wallboard")
    assert page.status_code == 403
    assert page.headers["content-security-policy"] == assets.CONTENT_SECURITY_POLICY
    assert "The wallboard is for supervisors and admins." in page.text
    assert "You are signed in as Ann (agent)." in page.text
    assert "wallboard.js" not in page.text and "csrf-token" not in page.text
    workspace = await client.get("/app")
    assert workspace.status_code == 200 and "wallboard-link" not in workspace.text
