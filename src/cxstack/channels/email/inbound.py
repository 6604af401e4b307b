"""Taking in raw inbound mail, whichever way it came (the SMTP listener or an inbound-parse webhook):
check its size, parse it, store the raw bytes and attachments (outside the writer), then record and thread
it for each inbox it was addressed to. The writes go through the database's batched write
(``intake.ingest_emails``): emails arriving together are threaded and posted in a few statements."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from cxstack.backbone.database import Database
from cxstack.backbone.unit_of_work import Context
from cxstack.channels.email import intake, service
from cxstack.channels.email.intake import InboundEmail
from cxstack.channels.email.parsing import ParsedEmail, UnreadableEmail, parse_email, split_plus_address
from cxstack.channels.email.received import StoredAttachment
from cxstack.channels.email.schemas import ReceivedEmail
from cxstack.channels.email.service import EmailTooLarge, UnknownRecipient
from cxstack.kit.errors import DomainError, ValidationFailed
from cxstack.kit.files import FileStore, StoredFile

#: A unit of work that loses a race (two emails from one new sender, a provider retrying in parallel) is
#: run again: the second time it sees what the winner wrote.
WRITE_ATTEMPTS = 3


#: The sender's email identity, or why it cannot be one (``intake.sender_identity``).
Sender = tuple[str | None, ValidationFailed | None]


class MalformedEmail(DomainError):
    status = 400
    code = "malformed_email"
    title = "Malformed email"


@dataclass(frozen=True, slots=True)
class InboundLimits:
    max_message_bytes: int
    max_attachment_bytes: int


@dataclass(frozen=True, slots=True)
class Destination:
    """An inbox an email was addressed to, and the reply token in that address, if any."""

    tenant_id: str
    inbox_id: str
    address: str
    token: str | None
    signing_key: str | None


class EmailIntake:
    def __init__(self, db: Database, store: FileStore, limits: InboundLimits) -> None:
        self.db = db
        self.store = store
        self.limits = limits

    async def destination(self, recipient: str) -> Destination:
        """Return the inbox that receives mail at ``recipient``; raises UnknownRecipient."""
        address, token = split_plus_address(recipient)
        found = await self.db.read(lambda session: service.find_inbox(session, address=address))
        if found is None:
            raise UnknownRecipient(f"no inbox receives mail at {recipient}", field="recipient")
        tenant_id, inbox_id, signing_key = found
        return Destination(tenant_id, inbox_id, address, token, signing_key)

    def check_size(self, size: int, *, field: str) -> None:
        """Raise EmailTooLarge when a raw message of ``size`` bytes is over the limit."""
        if size > self.limits.max_message_bytes:
            raise EmailTooLarge(
                f"the message is {size} bytes; the limit is {self.limits.max_message_bytes} bytes",
                field=field,
                limit=self.limits.max_message_bytes,
            )

    def _parse_and_store(
        self, raw: bytes, field: str
    ) -> tuple[ParsedEmail, list[StoredAttachment], StoredFile]:
        """Parse the message, then store its attachments and raw bytes (in that order: nothing is stored
        for a message refused)."""
        try:
            parsed = parse_email(raw)
        except UnreadableEmail as error:
            raise MalformedEmail(f"the message cannot be read: {error}", field=field) from None
        for attachment in parsed.attachments:
            if len(attachment.data) > self.limits.max_attachment_bytes:
                raise EmailTooLarge(
                    f"attachment {attachment.filename!r} is {len(attachment.data)} bytes; the limit is "
                    f"{self.limits.max_attachment_bytes} bytes",
                    field=field,
                    limit=self.limits.max_attachment_bytes,
                    filename=attachment.filename,
                )
        stored = [
            StoredAttachment(a.filename, a.content_type, self.store.put(a.data)) for a in parsed.attachments
        ]
        return parsed, stored, self.store.put(raw)

    def _prepare(
        self, raw: bytes, field: str
    ) -> tuple[ParsedEmail, list[StoredAttachment], StoredFile, Sender]:
        """Parse and store the message (see ``_parse_and_store``) and read its sender's identity."""
        parsed, attachments, stored = self._parse_and_store(raw, field)
        return parsed, attachments, stored, intake.sender_identity(parsed)

    async def receive(
        self, raw: bytes, destinations: list[Destination], *, field: str = "message", actor: str = "email"
    ) -> list[ReceivedEmail]:
        """Take in one raw message for each of ``destinations``; return what became of it for each.

        Raises EmailTooLarge (the message or an attachment over its limit), MalformedEmail, and the
        intake's errors; nothing is written for an inbox whose write failed.
        """
        self.check_size(len(raw), field=field)
        parsed, attachments, stored_raw, sender = await asyncio.to_thread(self._prepare, raw, field)
        results: list[ReceivedEmail] = []
        seen: set[str] = set()
        context = Context(actor=actor, source=service.SOURCE)
        for destination in destinations:
            if destination.inbox_id in seen:
                continue
            seen.add(destination.inbox_id)
            request: InboundEmail = intake.inbound_email(
                tenant_id=destination.tenant_id,
                inbox_id=destination.inbox_id,
                token=destination.token,
                parsed=parsed,
                raw=stored_raw,
                attachments=attachments,
                sender=sender,
            )
            for attempt in range(1, WRITE_ATTEMPTS + 1):
                try:
                    result: ReceivedEmail = await self.db.write_batched(
                        intake.ingest_emails, request, context=context
                    )
                    results.append(result)
                    break
                except IntegrityError:
                    if attempt == WRITE_ATTEMPTS:
                        raise
        return results
