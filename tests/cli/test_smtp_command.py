"""``cxstack smtp``: the listener as its own process, receiving mail a real SMTP client sends it."""

from __future__ import annotations

import asyncio
import os
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from benchmarks.harness import free_port
from sqlalchemy.orm import Session

from cxstack.backbone.migrate import upgrade
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.email.schemas import InboxCreate
from cxstack.channels.email.service import create_inbox
from cxstack.config import Settings
from cxstack.governance.tenants.service import create_tenant
from cxstack.records.conversations.service import list_conversations, list_messages
from cxstack.runtime import Runtime


async def _prepare(url: str) -> str:
    runtime = Runtime.build(Settings(database_url=url), run_bus=False)
    await runtime.db.start()
    try:
        await upgrade(runtime.db)

        def seed(uow: UnitOfWork) -> str:
            tenant = create_tenant(uow, name="Acme", slug="acme")
            create_inbox(uow, tenant_id=tenant.id, data=InboxCreate(address="support@acme.example"))
            return tenant.id

        return await runtime.db.write(seed)
    finally:
        await runtime.db.stop()


async def _bodies(url: str, tenant_id: str) -> list[str]:
    runtime = Runtime.build(Settings(database_url=url), run_bus=False)
    await runtime.db.start()
    try:

        def read(session: Session) -> list[str]:
            conversations = list_conversations(session, tenant_id=tenant_id, cursor=None, limit=10).items
            pages = [
                list_messages(session, tenant_id=tenant_id, conversation_id=c.id, cursor=None, limit=10)
                for c in conversations
            ]
            return [message.body for page in pages for message in page.items]

        return await runtime.db.read(read)
    finally:
        await runtime.db.stop()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"cxstack smtp exited with {process.returncode}:\n{output}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail("cxstack smtp did not start listening")


def test_cxstack_smtp_receives_mail_for_inboxes_and_refuses_others(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cxstack.db'}"
    tenant_id = asyncio.run(_prepare(url))
    port = free_port()
    env = {**os.environ, "CXSTACK_DATABASE_URL": url, "CXSTACK_DATA_DIR": str(tmp_path / "data")}
    process = subprocess.Popen(
        [sys.executable, "-m", "cxstack.cli.main", "smtp", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, process)
        message = (
            "From: Jane Doe <jane@example.com>\r\nTo: support@acme.example\r\nSubject: Broken mug\r\n"
            "Message-ID: <cli-1@example.com>\r\n\r\nThe mug arrived broken.\r\n"
        )
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            assert client.sendmail("jane@example.com", ["support@acme.example"], message) == {}
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                client.sendmail("jane@example.com", ["sales@acme.example"], message)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0
    assert asyncio.run(_bodies(url, tenant_id)) == ["The mug arrived broken."]
    stored = [p for p in (tmp_path / "data" / "files").rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].read_bytes().startswith(b"From: Jane Doe")
