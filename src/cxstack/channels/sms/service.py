"""SMS opt-out keywords and opt-outs (the numbers messages arrive at: ``channels.numbers``; inbound
messages are stored by ``intake``).

An inbound message finds its sender by phone identity (creating the customer the first time) and joins the
customer's conversation: the newest one on SMS that is not closed, else the newest not closed on any other
channel (which moves to SMS, as a conversation may cross channels), else a new SMS conversation. Opt-out
keywords (STOP, START, HELP and their synonyms) are messages too: they are recorded in the conversation
and change the phone's opt-out state, or (HELP) send the number's help text back.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.numbers.schemas import NumberRoute
from cxstack.channels.sms.models import SmsOptOut
from cxstack.channels.sms.repository import SmsRepository
from cxstack.channels.sms.schemas import (
    HelpRequested,
    InboundSms,
    OptOutOut,
    SmsOptedIn,
    SmsOptedOut,
)
from cxstack.governance.audit.service import record_audit
from cxstack.kit.errors import NotFound
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page
from cxstack.records.conversations.schemas import Attachment, MessageCreate
from cxstack.records.customers import service as customers

SOURCE = "cxstack/channels/sms"
#: Twilio's standard opt-out keywords, matched against the whole message (case and trailing punctuation
#: ignored), and what each does.
KEYWORDS: dict[str, str] = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), "stop"),
    **dict.fromkeys(("START", "YES", "UNSTOP"), "start"),
    **dict.fromkeys(("HELP", "INFO"), "help"),
}


@dataclass(frozen=True, slots=True)
class InboundOutcome:
    customer_id: str
    conversation_id: str
    message_id: str
    #: True when the provider's message id was seen before: nothing was written this time.
    duplicate: bool
    keyword: str


def record_rejected_webhook(
    uow: UnitOfWork, *, route: NumberRoute, reason: str, url: str, message_sid: str | None
) -> None:
    """Write an audit entry for a webhook refused for its signature or account."""
    record_audit(
        uow,
        tenant_id=route.tenant_id,
        action="sms.webhook_rejected",
        target_type="sms_number",
        target_id=route.number_id,
        detail={"reason": reason, "url": url, "number": route.number, "message_sid": message_sid},
    )


# -- inbound ---------------------------------------------------------------------------------------


def keyword_of(sms: InboundSms) -> tuple[str, str] | None:
    """Return (``stop``/``start``/``help``, the word sent) for an opt-out keyword message, else None."""
    word = sms.body.strip().rstrip(".!").strip().upper()
    action = KEYWORDS.get(word)
    if action is None and sms.opt_out_type in ("STOP", "START", "HELP"):
        # The provider recognised a keyword of the account's own (Twilio's Advanced Opt-Out).
        action, word = sms.opt_out_type.lower(), word or sms.opt_out_type
    return (action, word[:20]) if action is not None else None


def attachments_of(sms: InboundSms) -> list[Attachment]:
    """The message's media as conversation attachments (by URL)."""
    found = []
    for index, media in enumerate(sms.media):
        name = urlsplit(media.url).path.rstrip("/").rpartition("/")[2] or f"media-{index}"
        found.append(
            Attachment(name=name[:255], content_type=media.content_type[:100], size=0, url=media.url)
        )
    return found


def set_opt_out(
    uow: UnitOfWork,
    repo: SmsRepository,
    *,
    route: NumberRoute,
    sms: InboundSms,
    customer_id: str,
    opted_out: bool,
    word: str,
) -> None:
    """Record a STOP (``opted_out``) or START from the message's phone; publishes ``sms.opted_out`` or
    ``sms.opted_in`` when that changes the phone's state."""
    now = uow.clock.now()
    row = repo.opt_out(sms.from_number)
    was_opted_out = row is not None and row.opted_out
    if row is None:
        row = SmsOptOut(
            id=new_id("sop"),
            tenant_id=route.tenant_id,
            phone=sms.from_number,
            customer_id=customer_id,
            opted_out=opted_out,
            keyword=word,
            message_sid=sms.message_sid,
            updated_at=now,
        )
        uow.session.add(row)
    else:
        row.opted_out, row.keyword, row.message_sid, row.updated_at = opted_out, word, sms.message_sid, now
        row.customer_id = customer_id
    if opted_out == was_opted_out:
        return
    uow.publish(
        (SmsOptedOut if opted_out else SmsOptedIn)(
            phone=sms.from_number,
            customer_id=customer_id,
            number=route.number,
            keyword=word,
            message_sid=sms.message_sid,
        ),
        tenant_id=route.tenant_id,
        subject=customer_id,
        source=SOURCE,
    )


def help_answer(*, route: NumberRoute, sms: InboundSms) -> MessageCreate:
    """Return the message that answers a HELP: the number's help text, outbound, from the system."""
    return MessageCreate(
        direction="outbound",
        author_kind="system",
        body=route.help_text,
        channel="sms",
        client_id=f"sms-help-{sms.message_sid}",
    )


def publish_help_requested(
    uow: UnitOfWork, *, route: NumberRoute, sms: InboundSms, customer_id: str, conversation_id: str
) -> None:
    """Publish ``sms.help_requested`` for a HELP (its answer, ``help_answer``, is posted with it)."""
    uow.publish(
        HelpRequested(
            phone=sms.from_number,
            customer_id=customer_id,
            conversation_id=conversation_id,
            number=route.number,
            message_sid=sms.message_sid,
        ),
        tenant_id=route.tenant_id,
        subject=customer_id,
        source=SOURCE,
    )


# -- opt-outs --------------------------------------------------------------------------------------


def is_opted_out(session: Session, *, tenant_id: str, phone: str) -> bool:
    """Return whether ``phone`` (E.164) has opted out of the tenant's messages."""
    row = SmsRepository(session, tenant_id).opt_out(phone)
    return row is not None and row.opted_out


def get_opt_out(session: Session, *, tenant_id: str, phone: str, region: str = "US") -> OptOutOut:
    """Return the opt-out state of a phone number (any format); raises ValidationFailed, NotFound when the
    number never sent an opt-out keyword."""
    normalised = customers.normalise_phone(phone, region=region, field="phone")
    row = SmsRepository(session, tenant_id).opt_out(normalised)
    if row is None:
        raise NotFound(f"{normalised} never opted out or in", field="phone")
    return OptOutOut.model_validate(row)


def list_opt_outs(
    session: Session, *, tenant_id: str, cursor: str | None, limit: int, opted_out: bool | None = None
) -> Page[OptOutOut]:
    page = SmsRepository(session, tenant_id).opt_outs_page(cursor=cursor, limit=limit, opted_out=opted_out)
    return Page(items=[OptOutOut.model_validate(r) for r in page.items], next_cursor=page.next_cursor)
