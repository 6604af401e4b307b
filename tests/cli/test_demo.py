"""``cxstack demo --no-serve``: seeds a demo tenant once, whose printed key works against the API."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from cxstack.cli.demo import DEMO_API_KEY, DEMO_CUSTOMERS
from cxstack.cli.main import app
from cxstack.config import Settings
from cxstack.runtime import Runtime
from cxstack.web.app import create_app

CHANNELS = {"webchat", "email", "sms", "voice", "inapp"}


def run_demo() -> str:
    result = CliRunner().invoke(app, ["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    return result.stdout


async def _snapshot(database_url: str, key: str) -> dict[str, Any]:
    """What the demo tenant sees through the API."""
    runtime = Runtime.build(Settings(database_url=database_url), run_bus=False)
    await runtime.db.start()
    try:
        transport = httpx.ASGITransport(app=create_app(runtime, manage_runtime=False))
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://demo", headers=headers) as api:

            async def every(path: str) -> list[dict[str, Any]]:
                items: list[dict[str, Any]] = []
                cursor = None
                while True:
                    params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
                    response = await api.get(path, params=params)
                    assert response.status_code == 200, response.text
                    items += response.json()["data"]
                    cursor = response.json()["next_cursor"]
                    if cursor is None:
                        return items

            customers = await every("/v1/customers")
            ada = (
                await api.get("/v1/customers/lookup", params={"kind": "phone", "value": "(415) 555-2671"})
            ).json()
            timeline = (await api.get(f"/v1/customers/{ada['id']}/timeline")).json()["data"]
            newest = (await api.get("/v1/events", params={"limit": 1})).json()["data"]
            widget = (await api.get("/v1/channels/webchat/settings")).json()
            preview = await api.get(f"/widget/v1/preview/{widget['widget_key']}")
            assert preview.status_code == 200 and preview.headers["content-type"].startswith("text/html")
            return {
                "widget_key": widget["widget_key"],
                "preview": preview.text,
                "customers": customers,
                "ada": ada,
                "timeline": timeline,
                "accounts": await every("/v1/accounts"),
                "conversations": await every("/v1/conversations"),
                "cases": await every("/v1/cases"),
                "log_head": int(newest[0]["sequence"]),
            }
    finally:
        await runtime.db.stop()


def test_demo_seeds_once_and_its_printed_key_reads_the_seeded_record(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXSTACK_DATABASE_URL", database_url)
    first = run_demo()
    printed = re.search(r"cxk_demo_\w+", first)
    assert printed is not None, first
    key = printed.group(0)
    assert key == DEMO_API_KEY and len(key) >= 24
    assert "/docs" in first and f"Bearer {key}" in first
    assert "6 customers" in first
    preview_url = re.search(r"http://\S+/widget/v1/preview/(\S+)", first)
    assert preview_url is not None, first

    seeded = asyncio.run(_snapshot(database_url, key))
    # The printed page holds the demo tenant's widget: one script tag with its public key.
    assert seeded["widget_key"] == preview_url.group(1)
    assert (
        f'<script src="/widget/v1.js" data-tenant="{seeded["widget_key"]}" async></script>'
        in seeded["preview"]
    )
    assert {c["name"] for c in seeded["customers"]} == {c.name for c in DEMO_CUSTOMERS}
    assert all(len(c["identities"]) >= 3 for c in seeded["customers"])
    assert {"external", "email", "phone", "inapp_user"} <= {i["kind"] for i in seeded["ada"]["identities"]}
    assert seeded["ada"]["account_id"] in {a["id"] for a in seeded["accounts"]}
    assert {c["channel"] for c in seeded["conversations"]} | {
        c["origin_channel"] for c in seeded["conversations"]
    } == CHANNELS
    assert {c["status"] for c in seeded["cases"]} >= {"open", "solved"}
    timeline = seeded["timeline"]
    assert {e["channel"] for e in timeline if e["channel"]} == {"webchat", "email", "inapp"}
    assert {"customer.created", "message.received", "message.sent"} <= {e["kind"] for e in timeline}
    moments = [datetime.fromisoformat(e["occurred_at"]) for e in timeline]
    assert moments == sorted(moments)
    assert moments[-1] - moments[0] > timedelta(days=7), "the demo history is spread over days"

    second = run_demo()
    assert "6 demo customers were there already" in second
    assert "seeded" not in second
    again = asyncio.run(_snapshot(database_url, key))
    assert again["log_head"] == seeded["log_head"]
    for kind in ("customers", "accounts", "conversations", "cases"):
        assert len(again[kind]) == len(seeded[kind]), kind


def test_demo_help_names_the_key_and_no_serve() -> None:
    result = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--no-serve" in result.stdout
    assert DEMO_API_KEY in result.stdout
