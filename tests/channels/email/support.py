"""Helpers of the email channel tests: the raw messages, composing mail, and a recording SMTP relay."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

MESSAGES = Path(__file__).parent / "messages"
INBOX = "support@acme.example"
SIGNING_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
MAX_MESSAGE_BYTES = 256 * 1024
MAX_ATTACHMENT_BYTES = 64 * 1024


def fixture_bytes(name: str) -> bytes:
    return (MESSAGES / name).read_bytes()


@dataclass
class RelayedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class RecordingRelay:
    """What an SMTP relay was handed, the answer it gives to RCPT (to test refusals), and how long it takes
    over DATA (to test a slow relay)."""

    port: int = 0
    received: list[RelayedMail] = field(default_factory=list)
    refuse_with: str | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    data_delay_s: float = 0.0
    #: Set when DATA begins (before any delay).
    data_started: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse_with is not None:
            return self.refuse_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_started.set()
        if self.data_delay_s:
            await asyncio.sleep(self.data_delay_s)
        content = envelope.original_content or b""
        self.received.append(RelayedMail(str(envelope.mail_from), list(envelope.rcpt_tos), bytes(content)))
        self.arrived.set()
        return "250 2.0.0 queued"


def compose(
    *,
    sender: str = "Jane Doe <jane@example.com>",
    to: str = INBOX,
    subject: str = "Help with my order",
    body: str = "Hello, my order has not arrived.",
    message_id: str | None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """Return a plain-text email as a mail program would send it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime(2024, 3, 4, 10, 0, tzinfo=UTC))
    if message_id is not None:
        message["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        message["References"] = " ".join(f"<{ref}>" for ref in references)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes()
