"""Email channel fixtures: a real SMTP relay (aiosmtpd) that records what it is handed, settings that send
replies through it, an inbox of the ``acme`` tenant, the intake, and the SMTP listener."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.channels.email.support import (
    INBOX,
    MAX_ATTACHMENT_BYTES,
    MAX_MESSAGE_BYTES,
    SIGNING_KEY,
    RecordingRelay,
)

from cxstack.channels.email.inbound import EmailIntake, InboundLimits
from cxstack.channels.email.smtp import SmtpListener
from cxstack.config import Settings
from cxstack.kit.files import local_file_store
from cxstack.runtime import Runtime


@pytest.fixture
def settings(database_url: str, tmp_path: Path, relay: RecordingRelay) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        handler_retry_base_seconds=0.01,
        timer_poll_seconds=0.05,
        handler_max_attempts=3,
        effect_retry_base_seconds=0.01,
        effect_poll_seconds=0.02,
        smtp_relay_host="127.0.0.1",
        smtp_relay_port=relay.port,
        smtp_relay_security="none",
        smtp_relay_timeout_seconds=5,
        email_max_message_bytes=MAX_MESSAGE_BYTES,
        email_max_attachment_bytes=MAX_ATTACHMENT_BYTES,
    )


@pytest.fixture
async def inbox(api: httpx.AsyncClient) -> dict[str, Any]:
    created = await api.post(
        "/v1/channels/email/inboxes",
        json={"address": INBOX, "name": "Acme Support", "signing_key": SIGNING_KEY},
    )
    assert created.status_code == 201, created.text
    inbox: dict[str, Any] = created.json()
    return inbox


@pytest.fixture
def intake(runtime: Runtime, settings: Settings) -> EmailIntake:
    return EmailIntake(
        runtime.db,
        local_file_store(settings.data_dir),
        InboundLimits(settings.email_max_message_bytes, settings.email_max_attachment_bytes),
    )


@pytest.fixture
async def smtp_listener(intake: EmailIntake) -> AsyncIterator[SmtpListener]:
    listener = SmtpListener(intake, host="127.0.0.1", port=0)
    await listener.start()
    try:
        yield listener
    finally:
        await listener.stop()
