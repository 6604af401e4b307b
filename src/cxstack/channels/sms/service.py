"""SMS inbound messages and opt-outs (the numbers they arrive at: ``channels.numbers``).

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
from cxstack.channels.numbers.repository import serialise_on
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
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import Attachment, ConversationCreate, MessageCreate
from cxstack.records.customers import service as customers
from cxstack.records.customers.schemas import CustomerCreate

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


def _customer_of(uow: UnitOfWork, *, tenant_id: str, phone: str) -> str:
    try:
        return customers.lookup_customer(uow.session, tenant_id=tenant_id, kind="phone", value=phone).id
    except NotFound:
        return customers.create_customer(uow, tenant_id=tenant_id, data=CustomerCreate(phone=phone)).id


def _conversation_of(uow: UnitOfWork, *, tenant_id: str, customer_id: str) -> str:
    found = conversations.conversations_to_join(
        uow.session, tenant_id=tenant_id, customer_ids=[customer_id], channel="sms"
    )
    if customer_id in found:
        return found[customer_id]
    created = conversations.create_conversation(
        uow, tenant_id=tenant_id, data=ConversationCreate(customer_id=customer_id, channel="sms")
    )
    return created.id


def attachments_of(sms: InboundSms) -> list[Attachment]:
    """The message's media as conversation attachments (by URL)."""
    found = []
    for index, media in enumerate(sms.media):
        name = urlsplit(media.url).path.rstrip("/").rpartition("/")[2] or f"media-{index}"
        found.append(
            Attachment(name=name[:255], content_type=media.content_type[:100], size=0, url=media.url)
        )
    return found


def receive_sms(uow: UnitOfWork, *, route: NumberRoute, sms: InboundSms) -> InboundOutcome:
    """Store an inbound message in its sender's conversation and act on an opt-out keyword.

    A message id seen before changes nothing (``duplicate``). Publishes what the records publish
    (``customer.created``, ``conversation.created``, ``message.received``...) and ``sms.opted_out``,
    ``sms.opted_in`` or ``sms.help_requested`` for a keyword; a HELP answer is posted as an outbound
    message, which the SMS handler sends.
    """
    tenant_id = route.tenant_id
    repo = SmsRepository(uow.session, tenant_id)
    # One sender's messages are taken one at a time: a retry waits for its first delivery, and a burst of
    # first messages makes one customer and one conversation.
    serialise_on(uow.session, f"sender:{tenant_id}:{sms.from_number}")
    seen = repo.inbound_receipt(sms.message_sid)
    if seen is not None:
        return InboundOutcome(
            customer_id=seen.customer_id,
            conversation_id=seen.conversation_id,
            message_id=seen.message_id,
            duplicate=True,
            keyword=seen.keyword,
        )
    customer_id = _customer_of(uow, tenant_id=tenant_id, phone=sms.from_number)
    conversation_id = _conversation_of(uow, tenant_id=tenant_id, customer_id=customer_id)
    posted = conversations.post_message(
        uow,
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        data=MessageCreate(
            direction="inbound",
            body=sms.body,
            channel="sms",
            attachments=attachments_of(sms),
            client_id=sms.message_sid,
        ),
    )
    keyword = keyword_of(sms)
    action = keyword[0] if keyword else ""
    repo.add_inbound_receipt(
        {
            "id": new_id("sir"),
            "number_id": route.number_id,
            "message_sid": sms.message_sid,
            "from_number": sms.from_number,
            "customer_id": customer_id,
            "conversation_id": conversation_id,
            "message_id": posted.message.id,
            "keyword": action,
            "received_at": uow.clock.now(),
        }
    )
    if keyword is not None:
        word = keyword[1]
        if action == "help":
            _answer_help(uow, route=route, sms=sms, customer_id=customer_id, conversation_id=conversation_id)
        else:
            _set_opt_out(
                uow,
                repo,
                route=route,
                sms=sms,
                customer_id=customer_id,
                opted_out=action == "stop",
                word=word,
            )
    return InboundOutcome(
        customer_id=customer_id,
        conversation_id=conversation_id,
        message_id=posted.message.id,
        duplicate=False,
        keyword=action,
    )


def _set_opt_out(
    uow: UnitOfWork,
    repo: SmsRepository,
    *,
    route: NumberRoute,
    sms: InboundSms,
    customer_id: str,
    opted_out: bool,
    word: str,
) -> None:
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


def _answer_help(
    uow: UnitOfWork, *, route: NumberRoute, sms: InboundSms, customer_id: str, conversation_id: str
) -> None:
    conversations.post_message(
        uow,
        tenant_id=route.tenant_id,
        conversation_id=conversation_id,
        data=MessageCreate(
            direction="outbound",
            author_kind="system",
            body=route.help_text,
            channel="sms",
            client_id=f"sms-help-{sms.message_sid}",
        ),
    )
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
