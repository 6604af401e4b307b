"""What a customer's inbound email is recorded as (``intake.ingest_emails`` takes it in): its row, the
message posted into its conversation, its files, its ``email.received`` event, and the answer its caller
gets."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.channels.email.parsing import ParsedEmail
from cxstack.channels.email.schemas import EmailReceived, ReceivedEmail
from cxstack.channels.email.service import SOURCE
from cxstack.kit.errors import ValidationFailed
from cxstack.kit.files import StoredFile
from cxstack.records.conversations.schemas import (
    MAX_ATTACHMENTS,
    MAX_BODY_BYTES,
    Attachment,
    MessageCreate,
)
from cxstack.records.files import service as files
from cxstack.records.files.schemas import content_url

#: The content type of a raw email kept as a file.
RAW_CONTENT_TYPE = "message/rfc822"


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    filename: str
    content_type: str
    file: StoredFile


def no_sender() -> ValidationFailed:
    """The error for a customer's email without a From address."""
    return ValidationFailed("the email has no From address", field="from")


def invalid_sender(address: str, error: ValidationFailed) -> ValidationFailed:
    """The error for a customer's email whose From address cannot be a customer's email identity."""
    return ValidationFailed(
        f"the sender {address!r} is not a valid email address: {error.detail}", field="from"
    )


def client_id_of(message_id: str) -> str:
    """Return the conversation ``client_id`` of an email: stable for its Message-ID, at most 128 chars."""
    return "email:" + hashlib.sha256(message_id.encode()).hexdigest()[:48]


def _body_of(parsed: ParsedEmail, attachments: list[StoredAttachment]) -> str:
    return stored_body(parsed, has_attachments=bool(attachments))


def stored_body(parsed: ParsedEmail, *, has_attachments: bool) -> str:
    """Return the text a customer's email is posted with: what they wrote this time (else the whole
    text, else the subject when nothing is attached), cut to the conversation's limit."""
    body = parsed.reply_text or parsed.text
    if not body and not has_attachments:
        body = parsed.subject or "(no text)"
    encoded = body.encode()
    if len(encoded) > MAX_BODY_BYTES:
        # The conversation keeps the first 64 KiB; the whole message stays in the raw email.
        body = encoded[: MAX_BODY_BYTES - 3].decode("utf-8", "ignore") + "…"
    return body


def record_attachments(
    uow: UnitOfWork, *, tenant_id: str, conversation_id: str | None, attachments: Sequence[StoredAttachment]
) -> list[str]:
    """Record an email's attachments as files of the tenant in ``conversation_id``; return their ids."""
    if not attachments:
        return []
    recorded = files.add_files(
        uow,
        tenant_id=tenant_id,
        files=[
            files.NewFile(
                name=a.filename,
                content_type=a.content_type,
                stored=a.file,
                source="email_attachment",
                conversation_id=conversation_id,
            )
            for a in attachments
        ],
    )
    return [file.id for file in recorded]


def record_raw_emails(
    uow: UnitOfWork, *, tenant_id: str, emails: Sequence[tuple[dict[str, Any], StoredFile]]
) -> None:
    """Record the raw bytes of emails (their rows, not inserted yet, with the stored raw message) as files
    of the tenant (``message/rfc822``, in the email's conversation, of the message it became), and put
    each file's id in its row's ``raw_file_id``."""
    if not emails:
        return
    recorded = files.add_files(
        uow,
        tenant_id=tenant_id,
        files=[
            files.NewFile(
                name=f"{email['id']}.eml",
                content_type=RAW_CONTENT_TYPE,
                stored=raw,
                source="email",
                conversation_id=email["conversation_id"],
                message_id=email["cx_message_id"],
            )
            for email, raw in emails
        ],
    )
    for (email, _), file in zip(emails, recorded, strict=True):
        email["raw_file_id"] = file.id


def attachments_json(
    attachments: Sequence[StoredAttachment], file_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """Return an email row's ``attachments``: each file's id, name, content type, size and file API URL."""
    return [
        {
            "id": file_id,
            "name": a.filename,
            "content_type": a.content_type,
            "size": a.file.size,
            "url": content_url(file_id),
        }
        for a, file_id in zip(attachments, file_ids, strict=True)
    ]


def customer_message(
    parsed: ParsedEmail,
    attachments: list[StoredAttachment],
    file_ids: Sequence[str],
    *,
    author_id: str | None,
) -> MessageCreate:
    """Return the conversation message a customer's email is posted as, its attachments the files
    ``file_ids`` (``record_attachments``; ``author_id`` None: the conversation's customer)."""
    return MessageCreate(
        direction="inbound",
        body=_body_of(parsed, attachments),
        author_kind="customer",
        author_id=author_id,
        channel="email",
        attachments=[
            Attachment(id=file_id, name=a.filename) for a, file_id in zip(attachments, file_ids, strict=True)
        ][:MAX_ATTACHMENTS],
        client_id=client_id_of(parsed.message_id),
    )


def email_row(
    *,
    email_id: str,
    tenant_id: str,
    inbox_id: str,
    parsed: ParsedEmail,
    raw: StoredFile,
    attachments: list[StoredAttachment],
    attachment_ids: Sequence[str],
    created_at: datetime,
    thread_id: str | None = None,
    conversation_id: str | None = None,
    cx_message_id: str | None = None,
    customer_id: str | None = None,
) -> dict[str, Any]:
    """Return the ``email_messages`` row of an inbound email (``repo.insert_emails`` writes it), its
    attachments the files ``attachment_ids``; ``record_raw_emails`` fills in its ``raw_file_id``."""
    return {
        "id": email_id,
        "tenant_id": tenant_id,
        "inbox_id": inbox_id,
        "message_id": parsed.message_id,
        "direction": "inbound",
        "kind": parsed.kind,
        "status": "received",
        "thread_id": thread_id,
        "conversation_id": conversation_id,
        "cx_message_id": cx_message_id,
        "customer_id": customer_id,
        "from_address": parsed.sender.address if parsed.sender else "",
        "to_addresses": [mailbox.address for mailbox in parsed.to],
        "cc_addresses": [mailbox.address for mailbox in parsed.cc],
        "subject": parsed.subject,
        "in_reply_to": parsed.in_reply_to[0] if parsed.in_reply_to else None,
        "reference_ids": parsed.references,
        "sent_at": parsed.date,
        "raw_key": raw.key,
        "raw_size": raw.size,
        "raw_file_id": None,
        "attachments": attachments_json(attachments, attachment_ids),
        "details": {},
        "created_at": created_at,
    }


def publish_received(
    uow: UnitOfWork,
    email: dict[str, Any],
    *,
    attachments_count: int,
    new_thread: bool,
    context: Context | None = None,
) -> None:
    """Publish ``email.received`` for a customer's email posted into its conversation (``email`` is its
    row, thread and conversation message filled in)."""
    uow.publish(
        EmailReceived(
            email_id=email["id"],
            inbox_id=email["inbox_id"],
            message_id=email["message_id"],
            thread_id=email["thread_id"],
            conversation_id=email["conversation_id"],
            conversation_message_id=email["cx_message_id"],
            customer_id=email["customer_id"],
            from_address=email["from_address"],
            subject=email["subject"],
            attachments_count=attachments_count,
            new_thread=new_thread,
            raw_file_id=email.get("raw_file_id"),
        ),
        tenant_id=email["tenant_id"],
        subject=email["conversation_id"],
        source=SOURCE,
        context=context,
    )


def received_email(email: dict[str, Any], *, duplicate: bool) -> ReceivedEmail:
    """Return what became of an email, from its row (or what ``emails_by_message_ids`` reads of it)."""
    return ReceivedEmail(
        email_id=email["id"],
        inbox_id=email["inbox_id"],
        message_id=email["message_id"],
        kind=email["kind"],
        thread_id=email["thread_id"],
        conversation_id=email["conversation_id"],
        conversation_message_id=email["cx_message_id"],
        customer_id=email["customer_id"],
        raw_file_id=email.get("raw_file_id"),
        duplicate=duplicate,
    )
