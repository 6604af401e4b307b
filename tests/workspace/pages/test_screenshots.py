"""Screenshots of the workspace's main screens, taken in a real Chromium from the demo's data: the demo
agent's inbox and the email thread's conversation, then the supervisor's wallboard. Each is taken only once
the page shows what its user sees first, so a broken page fails here.

The PNGs (a 1366x850 laptop viewport; the whole page for the conversation, composer included) go to a
temporary directory; with ``CXSTACK_WRITE_SCREENSHOTS=1`` they are written to ``docs/screenshots/``
instead, which the README shows:

    CXSTACK_WRITE_SCREENSHOTS=1 .venv/bin/pytest tests/workspace/pages/test_screenshots.py

The demo has no administrator, so the administration page is not taken.

Required in CI (CI=true); skipped elsewhere when there is no /usr/bin/chromium.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.browser import chromium
from tests.channels.webchat.conftest import LiveServer
from tests.conftest import started_runtime

from cxstack.cli.demo import prepare_demo
from cxstack.cli.demo.inbox import MENTION_OF_SAM
from cxstack.cli.demo.seeding import DEMO_TENANT_SLUG, SeedReport
from cxstack.cli.demo.staff import DEMO_STAFF_PASSWORD
from cxstack.config import Settings
from cxstack.runtime import Runtime

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
VIEWPORT = {"width": 1366, "height": 850}
SAM = "sam@demo.example"
MORGAN = "morgan@demo.example"
#: The demo inbox's email thread (three mails and a note), assigned to Sam.
THREAD = "Scheduled export to S3 stops at 10,000 rows"


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where the PNGs go: docs/screenshots/ with CXSTACK_WRITE_SCREENSHOTS=1, a temporary directory else."""
    shots = SCREENSHOTS if os.environ.get("CXSTACK_WRITE_SCREENSHOTS") == "1" else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    return shots


@pytest.fixture
async def seeded(settings: Settings) -> SeedReport:
    """The demo tenant, seeded as ``cxstack demo`` seeds it."""
    return await prepare_demo(settings)


@pytest.fixture
async def runtime(settings: Settings, seeded: SeedReport) -> AsyncIterator[Runtime]:
    """A started runtime on the seeded database."""
    async with started_runtime(settings) as runtime:
        yield runtime


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as launched:
        yield launched


async def signed_in(browser: Any, server: LiveServer, email: str, path: str) -> Any:
    """A laptop-sized page of a fresh context, where ``email`` has signed in to the demo and been sent on
    to ``path``."""
    context = await browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = await context.new_page()
    await page.goto(f"{server.url}/app/sign-in?tenant={DEMO_TENANT_SLUG}&next={path}")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(DEMO_STAFF_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{server.url}{path}")
    await page.locator("#connection[data-state=open]").wait_for()
    return page


async def shoot(page: Any, path: Path, *, full_page: bool = False) -> None:
    """A PNG of the viewport (or the whole page), once fonts are in and the caret does not blink."""
    await page.evaluate("document.fonts.ready")
    png = await page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    assert len(png) > 10_000, path


async def test_the_main_screens_are_shot_from_the_demo(
    browser: Any, server: LiveServer, seeded: SeedReport, shots: Path
) -> None:
    # Sam's inbox: his conversations, the email thread among them; once available, he is offered work
    # waiting in the Support queue.
    page = await signed_in(browser, server, SAM, "/app")
    assert await page.locator("#person-name").text_content() == "Sam Rivera"
    await page.get_by_label("Presence").select_option("available")
    await page.locator("#presence[data-presence=available]").wait_for()
    offer = page.locator("#offers .offer")
    await offer.first.wait_for()
    assert await offer.first.locator(".queue").text_content() == "Support"
    thread_row = page.locator(".inbox-row", has_text="Hiro Tanaka").filter(has_text="email")
    await thread_row.wait_for()
    rows = await page.locator(".inbox-row").count()
    assert rows >= 3
    assert await page.locator(".count[data-count=mine]").text_content() == str(rows)
    await shoot(page, shots / "workspace-inbox.png")

    # The email thread: the customer's two mails, Sam's reply between them and the supervisor's note.
    await thread_row.locator("a").click()
    await page.wait_for_url(f"{server.url}/app/conversations/*")
    await page.locator("#conversation-channel", has_text="email").wait_for()
    await page.locator(".entry[data-kind=customer]", has_text="stopped at exactly 10,000 rows").wait_for()
    await page.locator(".entry[data-kind=agent]", has_text="The export now pages its results").wait_for()
    await page.locator(".entry[data-kind=customer]", has_text="Any date for the fix?").wait_for()
    await page.locator(".entry[data-kind=note]", has_text=MENTION_OF_SAM[:40]).wait_for()
    await page.get_by_label("Your reply").wait_for()
    await shoot(page, shots / "workspace-conversation.png", full_page=True)
    await page.context.close()

    # The supervisor's wallboard: the demo's queues, Support holding the work nobody has taken yet (offered
    # to Sam now), and the agents, Sam available.
    page = await signed_in(browser, server, MORGAN, "/app/wallboard")
    support = page.locator("#queues tr", has_text="Support")
    await support.wait_for()
    await page.locator("#queues tr", has_text="Billing").wait_for()
    waiting = int(await support.locator(".waiting").text_content() or "0")
    offered = int(await support.locator(".offered").text_content() or "0")
    assert waiting + offered >= 4, (waiting, offered)
    await page.locator("#agents tr[data-presence=available]", has_text="Sam Rivera").wait_for()
    await shoot(page, shots / "wallboard.png")
    await page.context.close()
