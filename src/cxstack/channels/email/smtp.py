"""The inbound SMTP listener (``cxstack smtp``): receives mail for the tenants' inbox addresses, refuses
mail for any other address with 550, and takes in each message through the same intake as the
inbound-parse webhook.

Answers follow RFC 5321: 250 once the message is stored and threaded; 552 for a message over the size
limit; 550 for a message that can never be accepted (no inbox for the recipient, unreadable, no sender);
451 when something failed that a retry may fix (the sending server tries again later).

Like the common mail servers, the listener takes lines longer than RFC 5321's 998 characters (Outlook
writes them) and bare LF line ends: only the message size limit bounds a line. UTF-8 in addresses and
headers (SMTPUTF8, RFC 6531/6532) is accepted and read as UTF-8.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from cxstack.channels.email.inbound import Destination, EmailIntake
from cxstack.channels.email.service import EmailTooLarge, UnknownRecipient
from cxstack.kit.errors import DomainError

log = logging.getLogger(__name__)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:400]


class InboundHandler:
    """aiosmtpd handler: RCPT checks the address against the inboxes, DATA takes the message in."""

    def __init__(self, intake: EmailIntake) -> None:
        self.intake = intake

    async def _destinations(self, recipients: list[str]) -> list[Destination]:
        found = []
        for recipient in recipients:
            try:
                found.append(await self.intake.destination(recipient))
            except UnknownRecipient:
                continue
        return found

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        try:
            await self.intake.destination(address)
        except UnknownRecipient:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        except Exception:
            log.exception("looking up the inbox of %s failed", address)
            return "451 4.3.0 Temporary failure; try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            destinations = await self._destinations(list(envelope.rcpt_tos))
            if not destinations:
                return "550 5.1.1 No valid recipients"
            await self.intake.receive(raw, destinations, field="message", actor="smtp")
        except EmailTooLarge as error:
            return f"552 5.3.4 {_one_line(error.detail)}"
        except DomainError as error:
            if error.status >= 500:
                log.error("inbound email failed: %s", error.detail)
                return "451 4.3.0 Temporary failure; try again later"
            return f"550 5.6.0 {_one_line(error.detail)}"
        except Exception:
            log.exception("inbound email failed")
            return "451 4.3.0 Temporary failure; try again later"
        return "250 2.0.0 Message accepted"


class InboundSMTP(SMTP):
    """aiosmtpd's SMTP server with its line length limit raised to ``line_length_limit``.

    aiosmtpd reads DATA a CRLF-terminated line at a time through a stream reader whose buffer limit is
    ``line_length_limit`` (1001 bytes by default: 998 characters and CRLF) and answers "500 Line too
    long" past it. A message with bare LF line ends has no CRLF until its end, so the whole message
    counts as one line; allowing a line as long as the largest message accepts both.
    """

    def __init__(self, handler: Any, *, line_length_limit: int, **options: Any) -> None:
        # Read by SMTP.__init__ when it creates the stream reader, so it is set first.
        self.line_length_limit = line_length_limit
        super().__init__(handler, **options)


#: Room for the line end and the dot of the last line beside the largest message.
LINE_OVERHEAD_BYTES = 1024


class SmtpListener:
    """An SMTP server on the running event loop (the one the database runs on)."""

    def __init__(self, intake: EmailIntake, *, host: str, port: int, hostname: str | None = None) -> None:
        self.handler = InboundHandler(intake)
        self.host = host
        self.port = port
        self.hostname = hostname
        self.data_size_limit = intake.limits.max_message_bytes
        self._server: asyncio.Server | None = None

    def _protocol(self) -> SMTP:
        options: dict[str, Any] = {"hostname": self.hostname} if self.hostname else {}
        return InboundSMTP(
            self.handler,
            line_length_limit=self.data_size_limit + LINE_OVERHEAD_BYTES,
            data_size_limit=self.data_size_limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="cxstack ESMTP",
            **options,
        )

    async def start(self) -> None:
        """Listen; ``port`` 0 picks a free port, readable from ``self.port`` afterwards."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
