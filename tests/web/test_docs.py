"""The API reference (``/docs``, ``/redoc``) works without internet: its browser libraries are served by
cxstack itself."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.browser import chromium
from tests.channels.webchat.conftest import serving

from cxstack.runtime import Runtime
from cxstack.web.app import create_app

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def origin(runtime: Runtime) -> AsyncIterator[str]:
    async with serving(create_app(runtime, manage_runtime=False)) as url:
        yield url


async def test_the_reference_pages_load_every_script_and_style_from_cxstack(origin: str) -> None:
    async with httpx.AsyncClient(base_url=origin) as http:
        for page in ("/docs", "/redoc"):
            response = await http.get(page)
            assert response.status_code == 200, response.text
            assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)
            assert assets, page
            for asset in assets:
                assert asset.startswith("/"), f"{page} loads {asset} from another origin"
                served = await http.get(asset)
                assert served.status_code == 200, asset
                assert served.content, asset


async def offline_page(browser: Any, origin: str, path: str) -> tuple[Any, list[str]]:
    """Open ``path`` with every request to another origin refused; return the page and those requests."""
    refused: list[str] = []
    page = await browser.new_page()

    async def only_cxstack(route: Any) -> None:
        if route.request.url.startswith(origin):
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_cxstack)
    await page.goto(f"{origin}{path}")
    return page, refused


async def test_swagger_ui_and_redoc_render_the_api_without_internet(origin: str) -> None:
    async with chromium() as browser:
        page, refused = await offline_page(browser, origin, "/docs")
        # Every group is listed, folded; opening one shows its routes.
        for tag in ("conversations", "customers", "routing", "sla", "staff"):
            await page.locator(f"#operations-tag-{tag}").wait_for(timeout=20_000)
        await page.locator("#operations-tag-customers").click()
        await page.locator(".opblock-summary-path", has_text="/v1/customers/lookup").first.wait_for(
            timeout=20_000
        )
        page, redoc_refused = await offline_page(browser, origin, "/redoc")
        await page.get_by_text("/v1/customers/lookup").first.wait_for(state="attached", timeout=20_000)
        assert refused == []
        # ReDoc's "API docs by Redocly" footer shows the vendor's logo from its CDN: a missing image, not
        # a missing part of the reference.
        assert [url for url in redoc_refused if not url.endswith("/logo-mini.svg")] == []
