"""Calling a customer back: an outgoing call from one of the tenant's numbers, in the customer's
conversation, for the agent who asks for it.

Asking records the call (``dialing``) in the conversation the customer is in (the one named, such as the
open chat, so everything said before is in front of the agent), publishes ``call.placed`` and has the
provider create the call by the ``voice.place_call`` effect after commit. The provider's call id is kept
once its answer is recorded; its callbacks name the call in their URL as well, so they find it even when
they overtake that answer. When the customer answers, they are put in the call's conference with the agent
who asked (dialed in as a participant), or queued for routing when nobody did. A provider that refuses the
call (a 4xx answer) ends it as ``failed`` with the provider's message; one that cannot be reached is tried
again by the effect runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cxstack.backbone.effects import EffectFailed, EffectJob, Reader, enqueue_effect
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.numbers.service import route_for, tenant_numbers
from cxstack.channels.providers import ProviderAccount
from cxstack.channels.voice.calls.control import join_conference
from cxstack.channels.voice.calls.phones import claim_phone, phones_of
from cxstack.channels.voice.calls.service import (
    adopt_call_sid,
    call_refs,
    conversation_of,
    post_call_message,
    publish_call_event,
)
from cxstack.channels.voice.models import VoiceCall
from cxstack.channels.voice.plugins.base import CallRejected, VoiceProvider
from cxstack.channels.voice.repository import VoiceRepository
from cxstack.channels.voice.schemas import (
    AnsweredCall,
    CallAnswered,
    CallCompleted,
    CallOut,
    CallPlaced,
    CallQueued,
    OutboundCallIn,
)
from cxstack.config import VoiceSettings
from cxstack.kit.errors import NotFound, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import ConversationUpdate
from cxstack.records.customers import service as customers
from cxstack.records.customers.schemas import CustomerCreate

#: The effect that creates an outgoing call at the provider.
PLACE_EFFECT = "voice.place_call"


def _customer_and_phone(uow: UnitOfWork, *, tenant_id: str, data: OutboundCallIn) -> tuple[str, str]:
    """The customer to call and the number to call them at (E.164)."""
    phone = customers.normalise_phone(data.phone, region=data.region, field="phone") if data.phone else None
    if data.customer_id is None:
        assert phone is not None
        try:
            return customers.lookup_customer(
                uow.session, tenant_id=tenant_id, kind="phone", value=phone
            ).id, phone
        except NotFound:
            created = customers.create_customer(uow, tenant_id=tenant_id, data=CustomerCreate(phone=phone))
            return created.id, phone
    customer = customers.get_customer(uow.session, tenant_id=tenant_id, customer_id=data.customer_id)
    phones = phones_of(customer)
    if phone is None:
        if not phones:
            raise ValidationFailed(
                f"customer {customer.id} has no phone number: give the number to call (phone)", field="phone"
            )
        return customer.id, phones[0]
    claim_phone(uow, tenant_id=tenant_id, customer=customer, phone=phone)
    return customer.id, phone


def _conversation(uow: UnitOfWork, *, tenant_id: str, customer_id: str, conversation_id: str | None) -> str:
    if conversation_id is None:
        return conversation_of(uow, tenant_id=tenant_id, customer_id=customer_id)
    conversation = conversations.get_conversation(
        uow.session, tenant_id=tenant_id, conversation_id=conversation_id
    )
    if conversation.customer_id != customer_id:
        raise ValidationFailed(
            f"conversation {conversation.id} is not customer {customer_id}'s", field="conversation_id"
        )
    if conversation.status == "closed":
        raise ValidationFailed(
            f"conversation {conversation.id} is closed; reopen it to continue by phone",
            field="conversation_id",
        )
    return conversation.id


def _from_number(uow: UnitOfWork, *, tenant_id: str, data: OutboundCallIn) -> str:
    numbers = tenant_numbers(uow.session, tenant_id=tenant_id)
    if data.from_number is None:
        if not numbers:
            raise ValidationFailed(
                "the tenant has no number to call from: register one at /v1/channels/sms/numbers",
                field="from_number",
            )
        return numbers[0]
    number = customers.normalise_phone(data.from_number, region=data.region, field="from_number")
    if number not in numbers:
        raise ValidationFailed(f"{number} is not one of the tenant's numbers", field="from_number")
    return number


def place_call(
    uow: UnitOfWork, *, tenant_id: str, data: OutboundCallIn, settings: VoiceSettings, provider: VoiceProvider
) -> CallOut:
    """Call a customer back; return the call (``dialing``).

    Raises NotFound (an unknown customer or conversation), ValidationFailed naming the field (a customer
    without a phone, a number that is not one, a conversation of another customer or closed, a from-number
    that is not the tenant's, no public URL for the provider to reach), Conflict (the phone is another
    customer's). Publishes ``call.placed`` (and what the records publish for a new customer or phone).
    """
    if not settings.public_url:
        raise ValidationFailed(
            "outgoing calls need the URL at which the provider reaches cxstack (CXSTACK_VOICE_PUBLIC_URL)",
            field="public_url",
        )
    number = _from_number(uow, tenant_id=tenant_id, data=data)
    customer_id, phone = _customer_and_phone(uow, tenant_id=tenant_id, data=data)
    conversation_id = _conversation(
        uow, tenant_id=tenant_id, customer_id=customer_id, conversation_id=data.conversation_id
    )
    agent_phone = (
        customers.normalise_phone(data.agent_phone, region=data.region, field="agent_phone")
        if data.agent_phone
        else None
    )
    now = uow.clock.now()
    call = VoiceCall.new(
        at=now,
        id=new_id("cal"),
        tenant_id=tenant_id,
        call_sid=None,
        account_sid="",
        number=number,
        from_number=number,
        to_number=phone,
        direction="outbound",
        customer_id=customer_id,
        conversation_id=conversation_id,
        status="dialing",
        provider_status="queued",
        callback={
            "agent_id": data.agent_id,
            "agent_name": data.agent_name,
            "agent_phone": agent_phone,
            "queue": data.queue,
        },
    )
    uow.session.add(call)
    uow.session.flush()
    who = f" for {data.agent_name}" if data.agent_name else ""
    post_call_message(uow, call, body=f"Calling {phone}{who}", client_id=f"call:{call.id}:placed")
    publish_call_event(
        uow,
        call,
        CallPlaced(**call_refs(call), from_number=number, to_number=phone, agent_id=data.agent_id),
    )
    base = f"{settings.public_url.rstrip('/')}{provider.hooks}"
    enqueue_effect(
        uow,
        tenant_id=tenant_id,
        kind=PLACE_EFFECT,
        key=call.id,
        payload={
            **call_refs(call),
            "number": number,
            "to": phone,
            "url": f"{base}/outbound?call={call.id}",
            "status_callback": f"{base}/status?call={call.id}",
        },
    )
    return CallOut.model_validate(call)


def answer_outbound(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    call_id: str,
    answered: AnsweredCall,
    settings: VoiceSettings,
    provider: VoiceProvider,
) -> str:
    """The customer answered an outgoing call: connect them with the agent who asked for it (in the call's
    conference, the agent dialed in; ``call.answered``) or queue them for routing (``call.queued``); return
    the instructions for their leg. A repeated webhook changes nothing more. Raises NotFound, Conflict."""
    call = adopt_call_sid(uow, tenant_id=tenant_id, call_id=call_id, call_sid=answered.call_sid)
    agent_id, agent_name = call.callback.get("agent_id"), call.callback.get("agent_name")
    queue = str(call.callback.get("queue") or "support")
    wait_url = f"{(settings.public_url or '').rstrip('/')}{provider.hooks}/wait"
    if call.status != "dialing":
        # A repeated webhook: the customer hears where the call is.
        if call.status in ("in_progress", "held"):
            return provider.conference(
                name=call.id, public_url=settings.public_url, hold_music_url=settings.hold_music_url
            )
        if call.status == "queued":
            return provider.enqueue(queue=call.queue or queue, announcement="Please hold.", wait_url=wait_url)
        return provider.goodbye("Goodbye.")
    now = uow.clock.now()
    call.account_sid = answered.account_sid
    call.provider_status = "in-progress"
    call.updated_at = now
    if not agent_id or not agent_name:
        call.status, call.queue = "queued", queue
        call.ivr = {"option": "callback", "queue": queue}
        post_call_message(
            uow,
            call,
            body=f"{call.to_number} answered; waiting in the {queue} queue",
            client_id=f"call:{call.id}:queued",
        )
        publish_call_event(uow, call, CallQueued(**call_refs(call), queue=queue, skill=None, ivr=call.ivr))
        return provider.enqueue(
            queue=queue, announcement="Thank you. Please hold while we connect you.", wait_url=wait_url
        )
    call.status, call.agent_id, call.agent_name = "in_progress", str(agent_id), str(agent_name)
    call.answered_at = now
    conversations.update_conversation(
        uow,
        tenant_id=tenant_id,
        conversation_id=call.conversation_id,
        data=ConversationUpdate(assignee=call.agent_id),
    )
    post_call_message(
        uow,
        call,
        body=f"{call.to_number} answered; connecting {agent_name}",
        client_id=f"call:{call.id}:answered",
    )
    publish_call_event(
        uow,
        call,
        CallAnswered(
            **call_refs(call),
            agent_id=call.agent_id,
            agent_name=call.agent_name,
            waited_s=max(0, int((now - call.created_at).total_seconds())),
        ),
    )
    agent_phone = call.callback.get("agent_phone")
    document = join_conference(
        uow,
        call,
        action="connect",
        agent_id=call.agent_id,
        agent_phone=str(agent_phone) if agent_phone else None,
        settings=settings,
        provider=provider,
        customer_leg=False,
    )
    uow.session.flush()
    return document


# -- the effect ------------------------------------------------------------------------------------


def _fail_call(uow: UnitOfWork, job: EffectJob, failure: EffectFailed) -> None:
    call = VoiceRepository(uow.session, job.tenant_id).get_call(str(job.payload["call_id"]), for_update=True)
    if call.status != "dialing" or call.call_sid is not None:
        # The provider's callbacks show the call exists after all (an answer lost after it was created).
        return
    now = uow.clock.now()
    call.status, call.provider_status, call.ended_at, call.updated_at = "failed", "failed", now, now
    call.error_code, call.error_message = failure.code, failure.message
    post_call_message(
        uow,
        call,
        body=f"Call to {call.to_number} failed: {failure.message}",
        client_id=f"call:{call.id}:ended",
    )
    publish_call_event(
        uow,
        call,
        CallCompleted(
            **call_refs(call),
            status="failed",
            duration_s=None,
            agent_id=call.agent_id,
            error_code=failure.code,
            error_message=failure.message,
        ),
    )


@dataclass(frozen=True, slots=True)
class CallPlacer:
    """Performs ``voice.place_call``: creates the outgoing call at the provider and keeps its id."""

    provider: VoiceProvider

    async def perform(self, job: EffectJob, read: Reader) -> dict[str, Any]:
        number = str(job.payload["number"])
        route = await read(lambda session: route_for(session, number=number))
        if route is None or route.tenant_id != job.tenant_id:
            raise EffectFailed(f"the number {number} is no longer registered", code="number_removed")
        try:
            placed = await self.provider.place_call(
                ProviderAccount(route.account_sid, route.auth_token),
                to=str(job.payload["to"]),
                from_=number,
                url=str(job.payload["url"]),
                status_callback=str(job.payload["status_callback"]),
            )
        except CallRejected as error:
            raise EffectFailed(error.message, code=error.code) from None
        return {"call_sid": placed.call_sid, "account_sid": route.account_sid, "status": placed.status}

    def on_done(self, uow: UnitOfWork, job: EffectJob, result: dict[str, Any]) -> None:
        call = adopt_call_sid(
            uow,
            tenant_id=job.tenant_id,
            call_id=str(job.payload["call_id"]),
            call_sid=str(result["call_sid"]),
        )
        call.account_sid = str(result["account_sid"])

    def on_failed(self, uow: UnitOfWork, job: EffectJob, failure: EffectFailed) -> None:
        _fail_call(uow, job, failure)
