"""Staff fixtures: settings that mail through a real SMTP server (the email channel's recording relay), a
client on HTTPS (the session cookie is Secure), people of the ``acme`` tenant made as the CLI does, and a
fake OIDC provider served on 127.0.0.1 (plain HTTP, which the settings allow)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.channels.email.support import RecordingRelay
from tests.channels.webchat.conftest import serving
from tests.conftest import TenantKey
from tests.governance.staff.fake_oidc import FakeOidcProvider, build_app
from tests.governance.staff.people import ADMIN_PASSWORD, Person, make_person

from cxstack.config import Settings
from cxstack.runtime import Runtime
from cxstack.web.app import create_app

BASE_URL = "https://cxstack.test"
#: cxstack's client at the fake OIDC provider, and where the provider sends people back.
OIDC_CLIENT_ID = "cxstack-acme"
OIDC_CLIENT_SECRET = "s3cret-of-the-oidc-client"
OIDC_REDIRECT_URI = "https://cx.acme.example/v1/auth/oidc/callback"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, relay: RecordingRelay) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        handler_retry_base_seconds=0.01,
        timer_poll_seconds=0.05,
        effect_retry_base_seconds=0.01,
        effect_poll_seconds=0.02,
        smtp_relay_host="127.0.0.1",
        smtp_relay_port=relay.port,
        smtp_relay_security="none",
        smtp_relay_timeout_seconds=5,
        auth={
            "public_url": "https://cx.acme.example",
            "mail_from": "Acme CX <no-reply@acme.example>",
            "oidc_allow_http": True,
        },
    )


@pytest.fixture
async def browser(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies, as a browser does, with no key."""
    app = create_app(runtime, manage_runtime=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        yield http


@pytest.fixture
async def key_client(runtime: Runtime, tenant: TenantKey) -> AsyncIterator[httpx.AsyncClient]:
    """A client with the ``acme`` tenant's key (all scopes)."""
    app = create_app(runtime, manage_runtime=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=tenant.headers
    ) as http:
        yield http


@pytest.fixture
async def admin(runtime: Runtime, tenant: TenantKey) -> Person:
    return await make_person(runtime, tenant.tenant_id, "admin@acme.example", "admin", ADMIN_PASSWORD)


@pytest.fixture
async def idp() -> AsyncIterator[FakeOidcProvider]:
    """The fake OIDC provider, on a real port, approving Ana (a verified email) at once."""
    provider = FakeOidcProvider(
        person={"sub": "idp-user-1", "email": "Ana@Acme.example", "email_verified": True, "name": "Ana Diaz"}
    )
    async with serving(build_app(provider)) as url:
        provider.url = url
        provider.register(OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI)
        yield provider
