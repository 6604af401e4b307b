"""Debian's Chromium driven by Playwright, for the tests of what people see in a browser.

Required in CI (CI=true); skipped elsewhere when there is no /usr/bin/chromium.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
HAVE_CHROMIUM = CHROMIUM.exists()
CHROMIUM_SKIP_REASON = "browser tests need Chromium at /usr/bin/chromium (CI has it)"


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A launched headless Chromium; fails under CI=true and skips elsewhere when it is missing."""
    if not HAVE_CHROMIUM:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {CHROMIUM} is missing: browser tests are required")
        pytest.skip(CHROMIUM_SKIP_REASON)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()
