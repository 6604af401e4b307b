"""Calls as the provider reports them: an incoming call joins its caller's conversation and hears the
menu (what the caller answers: ``ivr.flow``), and status callbacks record its lifecycle (recordings and
transcripts: ``recordings``).

A call belongs to the customer of the calling phone (E.164 identity; a customer is created the first time)
and to a conversation: the one the customer asked to continue by phone (an escalation still waiting),
else their newest voice conversation that is not closed, else their newest not closed on any other
channel (which moves to voice: a conversation may cross channels), else a new voice conversation. What
happens on the call is posted to that conversation as system messages on the voice channel, so the
transcript and the customer's timeline show it; voicemails and transcripts are the caller's messages.

Every callback is processed once: the incoming call by its ``CallSid``, a status by ``CallSid`` and
status, a recording by ``RecordingSid``, a transcription by ``TranscriptionSid``. Statuses never move a
call backwards (``PROVIDER_STATUS_RANK``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.numbers.repository import serialise_on
from cxstack.channels.numbers.schemas import NumberRoute
from cxstack.channels.voice.ivr.menus import tenant_ivr
from cxstack.channels.voice.models import VoiceCall, VoiceCallbackReceipt
from cxstack.channels.voice.plugins.base import VoiceProvider
from cxstack.channels.voice.repository import VoiceRepository, call_by_id, call_by_sid
from cxstack.channels.voice.schemas import (
    FINAL_STATUSES,
    PROVIDER_STATUS_RANK,
    CallCompleted,
    CallEvent,
    CallOut,
    CallRinging,
    CallStatusReport,
    IncomingCall,
)
from cxstack.governance.audit.service import record_audit
from cxstack.kit.errors import Conflict, NotFound
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import Attachment, ConversationCreate, MessageCreate
from cxstack.records.customers import service as customers
from cxstack.records.customers.schemas import CustomerCreate

SOURCE = "cxstack/channels/voice"
CONVERSATIONS_SCANNED = 50
ENDED = frozenset(FINAL_STATUSES.values())


@dataclass(frozen=True, slots=True)
class CallAnswer:
    call_id: str
    #: What the provider is to do with the call (in its own language).
    instructions: str


@dataclass(frozen=True, slots=True)
class CallRoute:
    """What a callback about a known call needs: its tenant and the number it reached."""

    call_id: str
    tenant_id: str
    number: str


def route_of_call(session: Session, *, call_sid: str) -> CallRoute | None:
    call = call_by_sid(session, call_sid)
    if call is None:
        return None
    return CallRoute(call_id=call.id, tenant_id=call.tenant_id, number=call.number)


def route_of_call_id(session: Session, *, call_id: str) -> CallRoute | None:
    call = call_by_id(session, call_id)
    if call is None:
        return None
    return CallRoute(call_id=call.id, tenant_id=call.tenant_id, number=call.number)


def record_rejected_webhook(
    uow: UnitOfWork, *, tenant_id: str, number: str, reason: str, url: str, call_sid: str | None
) -> None:
    """Write an audit entry for a call webhook refused for its signature or account."""
    record_audit(
        uow,
        tenant_id=tenant_id,
        action="voice.webhook_rejected",
        target_type="phone_number",
        target_id=number,
        detail={"reason": reason, "url": url, "number": number, "call_sid": call_sid},
    )


def _lock_call(uow: UnitOfWork, call_sid: str) -> None:
    """Callbacks about one call run one after the other (on PostgreSQL; SQLite has one writer)."""
    serialise_on(uow.session, f"voice-call:{call_sid}")


def call_refs(call: VoiceCall) -> dict[str, str | None]:
    """The fields every call event carries."""
    return {
        "call_id": call.id,
        "call_sid": call.call_sid,
        "customer_id": call.customer_id,
        "conversation_id": call.conversation_id,
    }


def publish_call_event(uow: UnitOfWork, call: VoiceCall, event: CallEvent) -> None:
    uow.publish(event, tenant_id=call.tenant_id, subject=call.conversation_id, source=SOURCE)


def post_call_message(
    uow: UnitOfWork,
    call: VoiceCall,
    *,
    body: str,
    client_id: str,
    direction: str = "outbound",
    author_kind: str = "system",
    attachments: Sequence[Attachment] = (),
) -> str:
    """Post an internal message about the call to its conversation, on the voice channel (agents and the
    timeline see it, the customer's channels never do); return its id (a retry with the same ``client_id``
    posts nothing more)."""
    posted = conversations.post_message(
        uow,
        tenant_id=call.tenant_id,
        conversation_id=call.conversation_id,
        data=MessageCreate.model_validate(
            {
                "direction": direction,
                "author_kind": author_kind,
                "visibility": "internal",
                "body": body,
                "channel": "voice",
                "attachments": [attachment.model_dump() for attachment in attachments],
                "client_id": client_id,
            }
        ),
    )
    return posted.message.id


def describe_duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


# -- an incoming call ------------------------------------------------------------------------------


def _customer_of(uow: UnitOfWork, *, tenant_id: str, phone: str) -> str:
    try:
        return customers.lookup_customer(uow.session, tenant_id=tenant_id, kind="phone", value=phone).id
    except NotFound:
        return customers.create_customer(uow, tenant_id=tenant_id, data=CustomerCreate(phone=phone)).id


def conversation_of(uow: UnitOfWork, *, tenant_id: str, customer_id: str, number: str | None = None) -> str:
    """Return the customer's conversation a call joins (a new voice one, with the tenant's ``number`` the
    call reached as ``attributes.number`` for routing's inbound rules, when none is open)."""
    page = conversations.list_conversations(
        uow.session,
        tenant_id=tenant_id,
        cursor=None,
        limit=CONVERSATIONS_SCANNED,
        customer_id=customer_id,
        newest_first=True,
    )
    live = [c for c in page.items if c.status != "closed"]
    on_voice = [c for c in live if c.channel == "voice"]
    if on_voice or live:
        return (on_voice or live)[0].id
    created = conversations.create_conversation(
        uow,
        tenant_id=tenant_id,
        data=ConversationCreate(
            customer_id=customer_id, channel="voice", attributes={"number": number} if number else {}
        ),
    )
    return created.id


def receive_call(
    uow: UnitOfWork, *, route: NumberRoute, call: IncomingCall, provider: VoiceProvider
) -> CallAnswer:
    """Record an incoming call in its caller's conversation and answer with the tenant's menu.

    A ``CallSid`` seen before records nothing more and gets the menu again. Publishes what the records
    publish (``customer.created``, ``conversation.created``, ``message.received``...) and ``call.ringing``.
    """
    tenant_id = route.tenant_id
    ivr = tenant_ivr(uow.session, tenant_id=tenant_id)
    _lock_call(uow, call.call_sid)
    serialise_on(uow.session, f"caller:{tenant_id}:{call.from_number}")
    existing = call_by_sid(uow.session, call.call_sid)
    if existing is not None:
        return CallAnswer(existing.id, provider.menu(ivr, attempt=max(existing.menu_attempts, 1)))
    repo = VoiceRepository(uow.session, tenant_id)
    customer_id = _customer_of(uow, tenant_id=tenant_id, phone=call.from_number)
    escalation = repo.waiting_escalation(customer_id)
    if escalation is not None:
        conversation_id = escalation.conversation_id
    else:
        conversation_id = conversation_of(
            uow, tenant_id=tenant_id, customer_id=customer_id, number=route.number
        )
    now = uow.clock.now()
    row = VoiceCall.new(
        at=now,
        id=new_id("cal"),
        tenant_id=tenant_id,
        call_sid=call.call_sid,
        account_sid=call.account_sid,
        number=route.number,
        from_number=call.from_number,
        to_number=route.number,
        direction="inbound",
        customer_id=customer_id,
        conversation_id=conversation_id,
        escalation_id=escalation.id if escalation is not None else None,
        status="in_menu",
        provider_status=call.status,
        menu_attempts=1,
    )
    uow.session.add(row)
    if escalation is not None:
        escalation.status, escalation.call_id, escalation.updated_at = "connected", row.id, now
    post_call_message(
        uow,
        row,
        body=f"Incoming call from {call.from_number}",
        client_id=f"call:{call.call_sid}:incoming",
        direction="inbound",
    )
    uow.session.flush()
    publish_call_event(
        uow,
        row,
        CallRinging(
            **call_refs(row),
            from_number=call.from_number,
            to_number=route.number,
            direction="inbound",
            escalation_id=row.escalation_id,
        ),
    )
    return CallAnswer(row.id, provider.menu(ivr, attempt=1))


# -- a known call ---------------------------------------------------------------------------------


def known_call(uow: UnitOfWork, *, tenant_id: str, call_sid: str) -> VoiceCall:
    _lock_call(uow, call_sid)
    call = call_by_sid(uow.session, call_sid)
    if call is None or call.tenant_id != tenant_id:
        raise NotFound(f"no call {call_sid} is known", field="CallSid")
    return call


def adopt_call_sid(uow: UnitOfWork, *, tenant_id: str, call_id: str, call_sid: str) -> VoiceCall:
    """Return the tenant's call ``call_id``, giving it the provider's ``call_sid`` when it has none yet (an
    outgoing call whose creation's answer is not yet recorded when its callbacks arrive). Raises
    NotFound, Conflict (the call has another provider id)."""
    _lock_call(uow, call_sid)
    call = VoiceRepository(uow.session, tenant_id).get_call(call_id, for_update=True)
    if call.call_sid is None:
        call.call_sid = call_sid
        uow.session.flush()
    elif call.call_sid != call_sid:
        raise Conflict(
            f"call {call_id} is the provider's call {call.call_sid}, not {call_sid}", field="CallSid"
        )
    return call


# -- status callbacks ------------------------------------------------------------------------------


def record_callback(uow: UnitOfWork, call: VoiceCall, kind: str, value: str) -> bool:
    """Record that a callback was processed; return False when it was before."""
    repo = VoiceRepository(uow.session, call.tenant_id)
    if repo.seen_callback(call.call_sid or call.id, kind, value):
        return False
    uow.session.add(
        VoiceCallbackReceipt(
            id=new_id("vcr"),
            tenant_id=call.tenant_id,
            call_sid=call.call_sid or call.id,
            kind=kind,
            value=value,
            received_at=uow.clock.now(),
        )
    )
    return True


def record_status(uow: UnitOfWork, *, tenant_id: str, report: CallStatusReport) -> CallAnswer | None:
    """Record a call status the provider reported, once; a status behind the call's changes nothing.

    A final status (completed, busy, no-answer, failed, canceled) ends the call: ``call.completed`` with
    its duration, and a message saying how it ended. Raises NotFound for an unknown call.
    """
    call = known_call(uow, tenant_id=tenant_id, call_sid=report.call_sid)
    if not record_callback(uow, call, "status", report.status):
        return None
    if PROVIDER_STATUS_RANK[report.status] < PROVIDER_STATUS_RANK.get(call.provider_status, 0):
        return None
    if call.status in ENDED:
        return None
    now = uow.clock.now()
    call.provider_status, call.updated_at = report.status, now
    final = FINAL_STATUSES.get(report.status)
    if final is None:
        return None
    call.status, call.ended_at = final, now
    call.duration_s = report.duration_s
    if final == "completed":
        length = f" after {describe_duration(report.duration_s)}" if report.duration_s is not None else ""
        body = f"Call ended{length}"
    else:
        body = f"Call ended: {final.replace('_', ' ')}"
    post_call_message(uow, call, body=body, client_id=f"call:{call.call_sid}:ended")
    publish_call_event(
        uow,
        call,
        CallCompleted(**call_refs(call), status=final, duration_s=report.duration_s, agent_id=call.agent_id),
    )
    return CallAnswer(call.id, "")


# -- reading calls ---------------------------------------------------------------------------------


def get_call(session: Session, *, tenant_id: str, call_id: str) -> CallOut:
    """Return a call of the tenant; raises NotFound."""
    return CallOut.model_validate(VoiceRepository(session, tenant_id).get_call(call_id))


def list_calls(
    session: Session,
    *,
    tenant_id: str,
    cursor: str | None,
    limit: int,
    status: str | None = None,
    customer_id: str | None = None,
) -> Page[CallOut]:
    """Return a page of the tenant's calls, newest first."""
    page = VoiceRepository(session, tenant_id).calls_page(
        cursor=cursor, limit=limit, status=status, customer_id=customer_id
    )
    return Page(items=[CallOut.model_validate(c) for c in page.items], next_cursor=page.next_cursor)
