"""``cxstack demo --no-serve``: seeds a demo tenant once, whose printed key works against the API."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from cxstack.backbone.effects import EffectOut, list_effects
from cxstack.cli.demo import DEMO_API_KEY, DEMO_CUSTOMERS, prepare_demo
from cxstack.cli.demo.inbox import MENTION_OF_SAM
from cxstack.cli.demo.providers import DemoProviders
from cxstack.cli.demo.staff import DEMO_STAFF_PASSWORD
from cxstack.cli.main import app
from cxstack.config import Settings
from cxstack.runtime import Runtime
from cxstack.web.app import create_app

CHANNELS = {"webchat", "email", "sms", "voice", "inapp"}
#: The subject of the demo inbox's email thread (three mails).
THREAD = "Scheduled export to S3 stops at 10,000 rows"


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
            conversations = await every("/v1/conversations")
            (thread,) = [c for c in conversations if c["subject"] == THREAD]
            thread_messages = (await api.get(f"/v1/conversations/{thread['id']}/messages")).json()["data"]
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
                "conversations": conversations,
                "thread": thread,
                "thread_messages": thread_messages,
                "cases": await every("/v1/cases"),
                "log_head": int(newest[0]["sequence"]),
                **await _sams_inbox(transport),
            }
    finally:
        await runtime.db.stop()


async def _sams_inbox(transport: httpx.ASGITransport) -> dict[str, Any]:
    """What the demo agent (Sam) sees once signed in: their inbox's counts and their mentions."""
    # https: the session cookie is sent over HTTPS only.
    async with httpx.AsyncClient(transport=transport, base_url="https://demo") as sam:
        signed_in = await sam.post(
            "/v1/auth/sign-in",
            json={"tenant": "demo", "email": "sam@demo.example", "password": DEMO_STAFF_PASSWORD},
        )
        assert signed_in.status_code == 200, signed_in.text
        counts = await sam.get("/v1/conversations/counts")
        mentions = await sam.get("/v1/mentions")
        assert counts.status_code == mentions.status_code == 200, (counts.text, mentions.text)
        return {
            "sam": signed_in.json()["user"],
            "sam_counts": counts.json(),
            "sam_mentions": mentions.json()["data"],
        }


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
    assert f"{len(DEMO_CUSTOMERS)} customers" in first
    assert "2 teams, 4 people" in first and "demo-password-not-secret" in first
    assert "morgan@demo.example" in first and "supervisor" in first
    assert re.search(r"workspace +http://127\.0\.0\.1:\d+/app/sign-in\?tenant=demo\b", first), first
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
    _assert_the_inbox_is_populated(seeded)
    timeline = seeded["timeline"]
    assert {e["channel"] for e in timeline if e["channel"]} == {"webchat", "email", "inapp"}
    assert {"customer.created", "message.received", "message.sent"} <= {e["kind"] for e in timeline}
    moments = [datetime.fromisoformat(e["occurred_at"]) for e in timeline]
    assert moments == sorted(moments)
    assert moments[-1] - moments[0] > timedelta(days=7), "the demo history is spread over days"

    second = run_demo()
    assert f"{len(DEMO_CUSTOMERS)} demo customers were there already" in second
    assert "seeded" not in second
    again = asyncio.run(_snapshot(database_url, key))
    assert again["log_head"] == seeded["log_head"]
    for kind in ("customers", "accounts", "conversations", "cases"):
        assert len(again[kind]) == len(seeded[kind]), kind


def _assert_the_inbox_is_populated(seeded: dict[str, Any]) -> None:
    """The demo agent's first look at the workspace: work on every channel in every state, some theirs,
    some waiting in the Support queue, an email thread, and a note that mentions them."""
    conversations = seeded["conversations"]
    assert 15 <= len(conversations) <= 25
    assert Counter(c["origin_channel"] for c in conversations) == {
        "webchat": 4,
        "email": 5,
        "sms": 3,
        "inapp": 4,
        "voice": 4,
    }
    assert Counter(c["status"] for c in conversations) == {"open": 12, "pending": 1, "closed": 7}
    assert {c["priority"] for c in conversations} == {"low", "normal", "high", "urgent"}
    sam = seeded["sam"]["id"]
    waiting = [c for c in conversations if c["status"] != "closed"]
    assert len([c for c in waiting if c["assignee"] == sam]) >= 3
    # Nobody has taken these yet: routing queued them for the Support team.
    unassigned = [c for c in waiting if c["assignee"] is None]
    assert len(unassigned) >= 4
    assert {c["origin_channel"] for c in unassigned} >= {"webchat", "sms", "inapp"}
    assert all(len(c["team_ids"]) == 1 for c in unassigned), unassigned
    assert seeded["sam_counts"]["mine"] >= 3 and seeded["sam_counts"]["unassigned"] == len(unassigned)
    # The email thread: three mails, the agent's reply between the customer's two.
    messages = seeded["thread_messages"]
    assert [(m["channel"], m["direction"]) for m in messages] == [
        ("email", "inbound"),
        ("email", "outbound"),
        ("email", "inbound"),
    ]
    assert seeded["thread"]["assignee"] == sam
    (mention,) = seeded["sam_mentions"]
    assert mention["conversation_id"] == seeded["thread"]["id"]
    assert mention["excerpt"] in MENTION_OF_SAM or MENTION_OF_SAM in mention["excerpt"]
    assert mention["read_at"] is None
    # Customers who came back on another channel, with their company's account.
    by_customer: dict[str, set[str]] = {}
    for conversation in conversations:
        by_customer.setdefault(conversation["customer_id"], set()).add(conversation["origin_channel"])
    with_accounts = {c["id"] for c in seeded["customers"] if c["account_id"] is not None}
    assert len([c for c, channels in by_customer.items() if len(channels) >= 2 and c in with_accounts]) >= 4


def test_demo_help_names_the_key_and_no_serve() -> None:
    result = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--no-serve" in result.stdout
    assert DEMO_API_KEY in result.stdout


# -- every channel can be tried, with the commands as printed --------------------------------------

REPO = Path(__file__).resolve().parents[2]
#: A line of the guide: two spaces, the label padded to 14 characters, the URL or command.
GUIDE_LINE = re.compile(
    r"^  (?P<label>[A-Za-z][A-Za-z0-9 -]{0,12}[A-Za-z0-9]) +"
    r"(?P<text>(?:curl|printf|CXSTACK_|/|\.|http|ws).*)$"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _guide(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        match = GUIDE_LINE.match(line)
        if match:
            found[match["label"]] = match["text"]
    return found


def _new_users_environment() -> dict[str, str]:
    """A shell's environment without cxstack's settings (as a new user's terminal has), and with the code of
    this checkout importable."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CXSTACK_")}
    env["PYTHONPATH"] = str(REPO / "src")
    return env


def _shell(command: str, *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=REPO,
        env=_new_users_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _effects(effects_command: str) -> list[dict[str, Any]]:
    listed = _shell(f"{effects_command} --json")
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line) for line in listed.stdout.splitlines()]


def test_demo_serves_every_channel_and_its_printed_commands_work_as_printed(
    database_url: str, tmp_path: Path
) -> None:
    port, smtp_port = _free_port(), _free_port()
    env = {
        **_new_users_environment(),
        "CXSTACK_DATABASE_URL": database_url,
        "CXSTACK_DATA_DIR": str(tmp_path / "data"),
        "CXSTACK_PORT": str(port),
        "CXSTACK_SMTP_PORT": str(smtp_port),
    }
    # As `make demo` runs it: the console script of the virtual environment, from the repository's root.
    script = Path(sys.executable).parent / "cxstack"
    demo = subprocess.Popen(
        [str(script), "demo"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output: list[str] = []
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            assert line, "".join(output)
            output.append(line)
            if line.startswith("Serving on"):
                break
        printed = "".join(output)
        assert f"Serving on http://127.0.0.1:{port}" in printed, printed
        assert f"Email in: SMTP on 127.0.0.1:{smtp_port}" in printed, printed
        guide = _guide(printed)
        assert set(guide) >= {
            "API docs",
            "customers",
            "follow events",
            "effects",
            "chat widget",
            "text us",
            "reply by SMS",
            "call us",
            "press 1",
            "email us",
            "in-app",
        }, printed
        # Lines that are no shell command are URLs of the demo's own server, on the port asked for.
        assert guide["API docs"] == f"http://127.0.0.1:{port}/docs"
        _wait_until_listening(port)
        for label in ("API docs", "chat widget"):
            assert httpx.get(guide[label]).status_code == 200, label
        # cxstack's own commands name the console script by a path that works from here, and the database.
        assert guide["effects"].startswith(f"CXSTACK_DATABASE_URL={database_url} ") or guide[
            "effects"
        ].startswith(f"CXSTACK_DATABASE_URL='{database_url}' "), guide["effects"]

        answers = {}
        for label, text in guide.items():
            if not text.startswith(("curl", "printf", "CXSTACK_")) or label == "follow events":
                continue
            ran = _shell(text)
            assert ran.returncode == 0, (label, text, ran.stdout, ran.stderr)
            assert "problems/" not in ran.stdout, (label, ran.stdout)
            answers[label] = ran.stdout
        assert json.loads(answers["customers"])["data"]
        assert answers["text us"].strip().endswith("<Response/>")
        assert (
            "<Gather" in answers["call us"]
            and "Thank you for calling the cxstack demo." in answers["call us"]
        )
        assert "<Enqueue" in answers["press 1"] and ">billing</Enqueue>" in answers["press 1"]
        assert json.loads(answers["reply by SMS"])["channel"] == "sms"
        assert json.loads(answers["in-app"])["direction"] == "inbound"
        assert "dead: 0" in answers["effects"]
        # The printed supervisor signs in with the printed password, and the cookie signs them in.
        assert json.loads(answers["sign in"])["user"]["role"] == "supervisor"
        assert json.loads(answers["signed in"])["user"]["email"] == "morgan@demo.example"

        # Following the events shows the log's newest events, and the new ones as they come, until Ctrl-C.
        followed = _follow(guide["follow events"], until="message.received")
        assert "message.received" in followed and "Traceback" not in followed, followed

        # Every send went to the demo's providers and ended done: the seeded history's and the reply.
        deadline = time.monotonic() + 60
        while True:
            effects = _effects(guide["effects"])
            if all(e["status"] == "done" for e in effects) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert effects and all(e["status"] == "done" for e in effects), effects
        assert {e["kind"] for e in effects} >= {"sms.send", "email.send"}
        # The email handed to the inbound SMTP listener became a conversation on the email channel.
        conversations = _shell(guide["conversations"])
        subjects = {c["subject"]: c["channel"] for c in json.loads(conversations.stdout)["data"]}
        assert subjects.get("Is the export fixed?") == "email", subjects
    finally:
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            rest, _ = demo.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
            rest, _ = demo.communicate()
        output.append(rest)
    printed = "".join(output)
    assert demo.returncode == 0, printed
    assert "Traceback" not in printed, printed
    # The demo prints what its providers were handed.
    replied = "A replacement for order #5530 ships today: keep the damaged one."
    assert f"SMS +14155550100 → +16465550162: {replied}" in printed
    assert "email support@cxstack-demo.example → ada@northwind.example" in printed


def _follow(command: str, *, until: str, timeout: float = 90) -> str:
    """Run a command that keeps printing, as printed, until a line holds ``until``; then press Ctrl-C."""
    follower = subprocess.Popen(
        ["bash", "-c", command],
        cwd=REPO,
        env={**_new_users_environment(), "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert follower.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            line = follower.stdout.readline()
            seen.append(line)
            if not line or until in line:
                break
    finally:
        os.killpg(follower.pid, signal.SIGINT)  # Ctrl-C
        try:
            rest, _ = follower.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(follower.pid, signal.SIGKILL)
            rest, _ = follower.communicate()
    return "".join(seen) + rest


def _wait_until_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


async def test_a_reply_to_the_seeded_sms_customer_is_sent_through_the_demos_twilio(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    providers = DemoProviders()
    await providers.start()
    try:
        for name, value in providers.environment(public_url=None).items():
            monkeypatch.setenv(name, value)
        settings = Settings(database_url=database_url, data_dir=tmp_path / "data")
        report = await prepare_demo(settings)
        assert report.sms_conversation_id is not None
        runtime = Runtime.build(settings)
        await runtime.start()
        try:
            transport = httpx.ASGITransport(app=create_app(runtime, manage_runtime=False))
            headers = {"Authorization": f"Bearer {DEMO_API_KEY}"}
            async with httpx.AsyncClient(transport=transport, base_url="http://demo", headers=headers) as api:
                conversation = (await api.get(f"/v1/conversations/{report.sms_conversation_id}")).json()
                customer = (await api.get(f"/v1/customers/{conversation['customer_id']}")).json()
                posted = await api.post(
                    f"/v1/conversations/{report.sms_conversation_id}/messages",
                    json={"direction": "outbound", "body": "On its way!", "author_kind": "agent"},
                )
                assert posted.status_code == 201, posted.text
                message_id = posted.json()["id"]
                # Once the reply has reached the demo's Twilio, every effect has run (none pending).
                effects = await _settled(
                    runtime, until=lambda: "On its way!" in {s.body for s in providers.sms}
                )
                sms = (await api.get(f"/v1/channels/sms/messages/{message_id}")).json()
                dead_letters = (await api.get("/v1/dead-letters")).json()["data"]
        finally:
            await runtime.stop()
    finally:
        await providers.stop()
    # The reply went to the demo's Twilio, from the demo's number to the customer's phone, and is queued
    # there with Twilio's message id.
    assert ("+14155550100", customer["phone"], "On its way!") in {
        (s.from_number, s.to_number, s.body) for s in providers.sms
    }
    assert sms["status"] == "queued" and sms["provider_sid"].startswith("SM"), sms
    # Nothing of the demo ends dead: the history's sends (SMS and email) are done too.
    assert {(e.kind, e.status) for e in effects} == {("sms.send", "done"), ("email.send", "done")}
    assert len(providers.emails) == 4 and len(providers.sms) == 4
    assert dead_letters == []


async def _settled(runtime: Runtime, *, until: Callable[[], bool]) -> list[EffectOut]:
    """Every effect once ``until()`` holds and none is pending or running any more (60 s at most)."""
    deadline = time.monotonic() + 60
    while True:
        effects = await runtime.db.read(lambda session: list_effects(session))
        settled = until() and all(e.status not in ("pending", "running") for e in effects)
        if settled or time.monotonic() > deadline:
            return effects
        await asyncio.sleep(0.05)
