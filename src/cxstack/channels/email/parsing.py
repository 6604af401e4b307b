"""Reading raw RFC 5322 messages: headers, text, the reply without its quoted history, attachments, and
whether the message is a customer's at all (a bounce or an auto-reply is not).

Pure functions over bytes, on the standard library's ``email`` package with ``policy.default``. HTML-only
messages are turned into readable text with inscriptis (block layout, lists and tables kept).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

from cxstack.channels.email.quotes import html_texts, strip_reply

EmailKind = Literal["message", "bounce", "auto_reply"]


class _CachingHeaderRegistry(HeaderRegistry):
    """``policy.default``'s header registry, remembering the headers it parsed.

    ``policy.default`` parses a header again every time it is read, and reading a message's structure
    reads Content-Type dozens of times. Parsed headers are immutable values, so equal raw headers can
    share one, and one header class per name serves every message: this makes parsing a message about
    four times faster.
    """

    def __init__(self) -> None:
        super().__init__()
        self._parsed: dict[tuple[str, str], BaseHeader] = {}
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        # The base class makes a new class on every call; one per header name is enough.
        key = name.lower()
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = super().__getitem__(name)
        return found

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if not isinstance(value, str):
            return super().__call__(name, value)
        key = (name, value)
        found = self._parsed.get(key)
        if found is None:
            if len(self._parsed) >= HEADER_CACHE_SIZE:
                self._parsed.clear()
            found = self._parsed[key] = super().__call__(name, value)
        return found


HEADER_CACHE_SIZE = 4096
_POLICY = policy.default.clone(header_factory=_CachingHeaderRegistry())
_PARSER = BytesParser(policy=_POLICY)
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_BARE_MESSAGE_ID = re.compile(r"^\s*([^<>\s@]+@[^<>\s]+)\s*$")


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A display name and an address, as written in a header (the address lower-cased)."""

    name: str
    address: str


@dataclass(frozen=True, slots=True)
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    """One recipient of a delivery status notification: who, what happened (``failed``, ``delayed``...),
    the status code (``5.1.1``) and the remote server's words."""

    address: str
    action: str
    status: str
    diagnostic: str

    @property
    def permanent(self) -> bool:
        return self.status.startswith("5") or (not self.status and self.action == "failed")


@dataclass(frozen=True, slots=True)
class Bounce:
    recipients: list[FailedRecipient]
    #: The Message-ID of the message that could not be delivered, when the report includes its headers.
    original_message_id: str | None


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    #: Without angle brackets; for a message that has none, one made from the SHA-256 of its bytes, so
    #: that a retry of the same message is still recognised.
    message_id: str
    has_message_id: bool
    in_reply_to: list[str]
    references: list[str]
    sender: Mailbox | None
    to: list[Mailbox]
    cc: list[Mailbox]
    reply_to: list[Mailbox]
    subject: str
    date: datetime | None
    #: The whole text of the message (from its text part, or its HTML made readable).
    text: str
    #: The text without quoted history and signature: what the sender wrote this time.
    reply_text: str
    html: str | None
    attachments: list[ParsedAttachment]
    kind: EmailKind
    bounce: Bounce | None = None
    #: Why the message counts as an automatic reply (the header or subject that said so).
    auto_reply_reason: str | None = None

    @property
    def referenced_ids(self) -> list[str]:
        """Every Message-ID this message names as an ancestor, nearest first, without repeats."""
        seen: dict[str, None] = {}
        for message_id in [*self.in_reply_to, *reversed(self.references)]:
            if message_id != self.message_id:
                seen.setdefault(message_id, None)
        return list(seen)


class UnreadableEmail(ValueError):
    """The bytes are not an email message at all."""


# -- headers ---------------------------------------------------------------------------------------


def decoded_8bit(value: str) -> str:
    """Return ``value`` with the raw 8-bit bytes the parser kept as surrogates decoded: UTF-8 (RFC 6532
    headers, SMTPUTF8 addresses), else Windows-1252 (old clients writing Latin text unencoded)."""
    if not _SURROGATE.search(value):
        return value
    raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("windows-1252", "replace")


_SURROGATE = re.compile("[\udc80-\udcff]")


def _text(value: str) -> str:
    """Text as stored: without U+0000, which no database keeps (an encoded word or a quoted-printable
    ``=00`` decodes to it; it means nothing in a mail's text)."""
    return value.replace("\x00", "") if "\x00" in value else value


def _raw_header(message: Message, name: str) -> str | None:
    """Return a header's value as written (unfolded, raw UTF-8 decoded), without the parsing that may
    fail on bad input."""
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            return _text(decoded_8bit(" ".join(str(value).split())))
    return None


def _header(message: Message, name: str) -> str | None:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError, AttributeError):
        return _raw_header(message, name)
    return None if value is None else _text(decoded_8bit(" ".join(str(value).split())))


def message_ids_in(value: str | None) -> list[str]:
    """Return the Message-IDs in a header value (``<a@b> <c@d>``), brackets removed, in order."""
    if not value:
        return []
    found = _MESSAGE_ID.findall(value)
    if found:
        return found
    bare = _BARE_MESSAGE_ID.match(value)
    return [bare.group(1)] if bare else []


def _mailboxes(message: Message, name: str) -> list[Mailbox]:
    raw = _raw_header(message, name)
    if raw is None:
        return []
    try:
        # Parsed from the decoded text: a raw UTF-8 name or address (RFC 6532) reads as what it says.
        header: Any = _POLICY.header_factory(name, raw)
        addresses = [(a.display_name, a.addr_spec) for a in header.addresses]
    except (ValueError, IndexError, TypeError, AttributeError):
        addresses = getaddresses([raw])
    return [
        Mailbox(name=_text(display or ""), address=_text(address.strip().lower()))
        for display, address in addresses
        if address and "@" in address
    ]


def _date(message: Message) -> datetime | None:
    raw = _raw_header(message, "Date")
    if not raw:
        return None
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# -- bodies ----------------------------------------------------------------------------------------


def _content(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, ValueError, AssertionError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if isinstance(content, bytes):
        return _text(content.decode("utf-8", "replace"))
    return _text(str(content))


#: The strict profile lays blocks out without the indentation the relaxed one gives nested ``div``s.
_HTML_LAYOUT = ParserConfig(css=CSS_PROFILES["strict"])


def html_to_text(html: str) -> str:
    """Return the readable text of an HTML body: blocks on their own lines, lists and tables laid out."""
    text = get_text(html, _HTML_LAYOUT)
    lines = [line.rstrip() for line in text.splitlines()]
    # Collapse the runs of empty lines that nested blocks leave behind.
    collapsed: list[str] = []
    for line in lines:
        if not line and collapsed and not collapsed[-1]:
            continue
        collapsed.append(line)
    return "\n".join(collapsed).strip("\n")


def _leaves(part: Message) -> list[Message]:
    """The non-multipart parts of a message, in order, without descending into attached messages."""
    if part.get_content_maintype() == "multipart":
        payload = part.get_payload()
        if isinstance(payload, list):
            return [leaf for sub in payload if isinstance(sub, Message) for leaf in _leaves(sub)]
        return []
    return [part]


_PARAMETER = re.compile(r'\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_SECTION = re.compile(r"^(?P<name>[^*]+)(?:\*(?P<index>\d+))?(?P<encoded>\*)?$")


def _parameters(value: str) -> dict[str, str]:
    """The parameters of a Content-Type or Content-Disposition value, names lower-cased, quotes removed;
    an unquoted value runs to the next ``;`` (clients write ``filename=Quarterly report.pdf``)."""
    found: dict[str, str] = {}
    for match in _PARAMETER.finditer(value.partition(";")[2]):
        name, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        found.setdefault(name, raw)
    return found


def _charset_decode(data: bytes, charset: str) -> str:
    for candidate in (charset, "utf-8"):
        try:
            return data.decode(candidate or "utf-8")
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("windows-1252", "replace")


def _parameter(params: dict[str, str], wanted: str) -> str | None:
    """Return parameter ``wanted`` decoded: RFC 2231 (``name*``, ``name*0*``... with their charset),
    preferred over the plain form as RFC 6266 asks; encoded words (``=?UTF-8?Q?...?=``) and raw UTF-8
    are decoded too."""
    sections: dict[int, tuple[str, bool]] = {}
    for key, value in params.items():
        section = _SECTION.match(key)
        if section is None or section.group("name") != wanted:
            continue
        if section.group("index") is None and not section.group("encoded"):
            continue
        sections[int(section.group("index") or 0)] = (value, bool(section.group("encoded")))
    if sections:
        charset = ""
        data = b""
        for position, (value, encoded) in enumerate(sections[index] for index in sorted(sections)):
            if encoded:
                if position == 0 and value.count("'") >= 1:
                    head, _, value = value.partition("'")
                    charset = head
                    if "'" in value:
                        value = value.partition("'")[2]
                data += unquote_to_bytes(value)
            else:
                data += decoded_8bit(value).encode("utf-8")
                charset = charset or "utf-8"
        return _charset_decode(data, charset.strip())
    plain = params.get(wanted)
    if plain is None:
        return None
    plain = decoded_8bit(plain)
    if "=?" in plain:
        with contextlib.suppress(ValueError, LookupError, UnicodeDecodeError):
            plain = str(make_header(decode_header(plain)))
    return plain


def _filename(part: Message) -> str:
    """The name a part's sender gave it (Content-Disposition ``filename``, else Content-Type ``name``),
    without any folder, or ``""``."""
    for header, wanted in (("Content-Disposition", "filename"), ("Content-Type", "name")):
        raw = _raw_header(part, header)
        value = _parameter(_parameters(raw), wanted) if raw else None
        if value and value.strip():
            return re.split(r"[\\/]", value.strip())[-1].strip()
    return ""


def _attachment_of(part: Message, index: int) -> ParsedAttachment:
    content_type = part.get_content_type()
    filename = _text(_filename(part))
    if content_type == "message/rfc822":
        inner = part.get_payload()
        data = (
            inner[0].as_bytes()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message)
            else b""
        )
        filename = filename or f"message-{index}.eml"
    else:
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
    if not filename:
        subtype = part.get_content_subtype()
        filename = f"attachment-{index}.{subtype if subtype.isalnum() else 'bin'}"
    return ParsedAttachment(filename=filename[:255], content_type=content_type[:100], data=data)


# -- bounces and automatic replies -----------------------------------------------------------------

_DAEMONS = ("mailer-daemon", "postmaster")
_OUT_OF_OFFICE = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|"
    r"away from (the |my )?office|on vacation|vacation reply|abwesenheitsnotiz|"
    r"r[ée]ponse automatique|respuesta autom[áa]tica|absent du bureau)\b",
    re.I,
)
_DELIVERY_FAILED_SUBJECT = re.compile(
    r"(undeliver|delivery status notification|returned mail|mail delivery (failed|failure|system)|"
    r"failure notice|delivery failure)",
    re.I,
)


def _field(block: Message, name: str) -> str:
    value = _raw_header(block, name) or ""
    # "rfc822; jane@example.com" / "smtp; 550 5.1.1 ...": drop the type.
    return value.split(";", 1)[1].strip() if ";" in value else value.strip()


def _bounce(message: Message, sender: Mailbox | None, subject: str) -> Bounce | None:
    is_report = (
        message.get_content_type() == "multipart/report"
        and str(message.get_param("report-type") or "").lower() == "delivery-status"
    )
    from_daemon = sender is not None and sender.address.split("@", 1)[0] in _DAEMONS
    if not is_report and not (from_daemon and _DELIVERY_FAILED_SUBJECT.search(subject)):
        return None
    recipients: list[FailedRecipient] = []
    original: str | None = None
    for part in _leaves(message):
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            blocks = part.get_payload()
            for block in blocks[1:] if isinstance(blocks, list) else []:
                if not isinstance(block, Message):
                    continue
                address = _field(block, "Final-Recipient") or _field(block, "Original-Recipient")
                if address:
                    recipients.append(
                        FailedRecipient(
                            address=address.strip("<>").lower(),
                            action=_field(block, "Action").lower(),
                            status=_field(block, "Status"),
                            diagnostic=_field(block, "Diagnostic-Code"),
                        )
                    )
        elif content_type in ("text/rfc822-headers", "message/rfc822", "message/rfc822-headers"):
            if content_type == "message/rfc822":
                inner = part.get_payload()
                headers = (
                    inner[0] if isinstance(inner, list) and inner and isinstance(inner[0], Message) else None
                )
            else:
                payload = part.get_payload(decode=True)
                headers = (
                    _PARSER.parsebytes(payload, headersonly=True) if isinstance(payload, bytes) else None
                )
            if headers is not None:
                found = message_ids_in(_raw_header(headers, "Message-ID"))
                original = found[0] if found else original
    if not recipients:
        failed = _raw_header(message, "X-Failed-Recipients") or ""
        recipients = [
            FailedRecipient(address=a.strip().lower(), action="failed", status="", diagnostic="")
            for a in failed.split(",")
            if "@" in a
        ]
    return Bounce(recipients=recipients, original_message_id=original)


def auto_reply_reason(message: Message, subject: str) -> str | None:
    """Return why ``message`` is an automatic reply (RFC 3834 and the common vendor headers, then an
    out-of-office subject as a last resort), or None for a message a person wrote."""
    submitted = (_raw_header(message, "Auto-Submitted") or "").strip().lower()
    if submitted and submitted.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        value = _raw_header(message, name)
        if value is not None:
            return f"{name}: {value}"
    precedence = (_raw_header(message, "Precedence") or "").strip().lower()
    if precedence in ("bulk", "auto_reply", "junk"):
        return f"Precedence: {precedence}"
    if _OUT_OF_OFFICE.match(subject):
        return f"Subject: {subject}"
    return None


# -- the whole message -----------------------------------------------------------------------------


def parse_email(raw: bytes) -> ParsedEmail:
    """Read a raw message; raises UnreadableEmail when the bytes hold no message headers at all."""
    if not raw or not raw.strip():
        raise UnreadableEmail("the message is empty")
    message = _PARSER.parsebytes(raw)
    assert isinstance(message, EmailMessage)
    if not list(message.keys()):
        raise UnreadableEmail("the message has no headers")
    ids = message_ids_in(_raw_header(message, "Message-ID"))
    message_id = ids[0] if ids else f"{hashlib.sha256(raw).hexdigest()[:40]}@sha256.cxstack.invalid"
    subject = _header(message, "Subject") or ""
    senders = _mailboxes(message, "From") or _mailboxes(message, "Sender")
    sender = senders[0] if senders else None

    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    html = _content(html_part) if html_part is not None else None
    if text_part is not None:
        text = _content(text_part).replace("\r\n", "\n")
        reply_source = text
    elif html is not None:
        text, reply_source = html_texts(html, html_to_text)
    else:
        text = reply_source = ""
    body_parts = {id(part) for part in (text_part, html_part) if part is not None}

    bounce = _bounce(message, sender, subject)
    reason = None if bounce is not None else auto_reply_reason(message, subject)
    kind: EmailKind = "bounce" if bounce is not None else ("auto_reply" if reason else "message")
    attachments: list[ParsedAttachment] = []
    if kind == "message":
        for part in _leaves(message):
            if id(part) in body_parts:
                continue
            disposition = part.get_content_disposition()
            is_text = part.get_content_maintype() == "text" and not _filename(part)
            if disposition == "attachment" or (not is_text and part.get_content_maintype() != "multipart"):
                attachments.append(_attachment_of(part, len(attachments) + 1))
    return ParsedEmail(
        message_id=message_id,
        has_message_id=bool(ids),
        in_reply_to=message_ids_in(_raw_header(message, "In-Reply-To"))[:1],
        references=message_ids_in(_raw_header(message, "References")),
        sender=sender,
        to=_mailboxes(message, "To"),
        cc=_mailboxes(message, "Cc"),
        reply_to=_mailboxes(message, "Reply-To"),
        subject=subject,
        date=_date(message),
        text=text.strip("\n"),
        reply_text=strip_reply(reply_source) if kind == "message" else text.strip("\n"),
        html=html,
        attachments=attachments,
        kind=kind,
        bounce=bounce,
        auto_reply_reason=reason,
    )


def split_plus_address(address: str) -> tuple[str, str | None]:
    """Return ``(base address, tag)`` of ``local+tag@domain`` (the tag None without a ``+``), lower-cased."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return address.strip().lower(), None
    base, plus, tag = local.partition("+")
    return f"{base}@{domain}", (tag or None) if plus else None
