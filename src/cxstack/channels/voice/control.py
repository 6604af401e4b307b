"""What agents do with a call: take it, hold it, take it off hold, transfer it.

Each action changes the call and publishes its event at once, and asks the provider to change the live
call (new TwiML through Twilio's call update) by the ``voice.update_call`` effect, after the transaction
commits: no provider is called inside a unit of work. One change of a call is in flight at a time, the next
handed over when it is done, so the provider sees them in the order agents made them. Should the provider
refuse one (the caller hung up meanwhile), ``call.update_failed`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cxstack.backbone.effects import EffectFailed, EffectJob, Reader, enqueue_effect
from cxstack.backbone.errors import Conflict
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.sms.service import route_for
from cxstack.channels.voice import twilio, twiml
from cxstack.channels.voice.models import VoiceCall
from cxstack.channels.voice.repository import VoiceRepository
from cxstack.channels.voice.schemas import (
    AgentIn,
    CallAnswered,
    CallHeld,
    CallOut,
    CallResumed,
    CallTransferred,
    CallUpdateFailed,
    TransferIn,
)
from cxstack.channels.voice.service import ENDED, call_refs, post_call_message, publish_call_event
from cxstack.channels.voice.settings import VoiceSettings
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import ConversationUpdate
from cxstack.records.customers import service as customers

#: The effect that gives a live call new TwiML.
UPDATE_EFFECT = "voice.update_call"
#: States from which an agent may take a call.
TAKEABLE = ("ringing", "in_menu", "queued", "voicemail")


def _hand_over(uow: UnitOfWork, call: VoiceCall, update: dict[str, Any]) -> None:
    enqueue_effect(
        uow,
        tenant_id=call.tenant_id,
        kind=UPDATE_EFFECT,
        key=f"{call.id}:{update['n']}",
        payload={**call_refs(call), **update, "account_sid": call.account_sid, "number": call.number},
    )


def _ask_provider(uow: UnitOfWork, call: VoiceCall, *, action: str, twiml_document: str) -> None:
    """Queue a change of the live call; it is handed to the provider once the changes before it are done."""
    call.updates += 1
    update = {"n": call.updates, "action": action, "twiml": twiml_document}
    if not call.pending_updates:
        _hand_over(uow, call, update)
    call.pending_updates = [*call.pending_updates, update]


def _advance(uow: UnitOfWork, job: EffectJob) -> None:
    """A change is done (or refused for good): hand the next one of the call over."""
    call = VoiceRepository(uow.session, job.tenant_id).get_call(str(job.payload["call_id"]), for_update=True)
    remaining = [update for update in call.pending_updates if update["n"] != job.payload["n"]]
    call.pending_updates = remaining
    if remaining:
        _hand_over(uow, call, remaining[0])


def _live(call: VoiceCall) -> None:
    if call.status in ENDED:
        raise Conflict(f"call {call.id} has ended ({call.status})", field="call_id")


def _agent_phone(data: AgentIn | TransferIn) -> str | None:
    if not data.agent_phone:
        return None
    return customers.normalise_phone(data.agent_phone, field="agent_phone")


def _assign(uow: UnitOfWork, call: VoiceCall, agent_id: str | None) -> None:
    conversations.update_conversation(
        uow,
        tenant_id=call.tenant_id,
        conversation_id=call.conversation_id,
        data=ConversationUpdate(assignee=agent_id),
    )


def connect_agent(
    uow: UnitOfWork, *, tenant_id: str, call_id: str, data: AgentIn, settings: VoiceSettings
) -> CallOut:
    """An agent takes a waiting call: the caller is connected to them and the conversation is assigned to
    them. Publishes ``call.answered``. Raises NotFound, Conflict (a call that ended or has an agent)."""
    call = VoiceRepository(uow.session, tenant_id).get_call(call_id, for_update=True)
    _live(call)
    if call.status not in TAKEABLE:
        raise Conflict(
            f"call {call_id} is {call.status.replace('_', ' ')} with {call.agent_name}; transfer it instead",
            field="call_id",
        )
    phone = _agent_phone(data)
    now = uow.clock.now()
    call.status, call.agent_id, call.agent_name = "in_progress", data.agent_id, data.agent_name
    call.answered_at = call.updated_at = now
    _assign(uow, call, data.agent_id)
    post_call_message(
        uow, call, body=f"Call answered by {data.agent_name}", client_id=f"call:{call.call_sid}:answered"
    )
    publish_call_event(
        uow,
        call,
        "call.answered",
        CallAnswered(
            **call_refs(call),
            agent_id=data.agent_id,
            agent_name=data.agent_name,
            waited_s=max(0, int((now - call.created_at).total_seconds())),
        ),
    )
    _ask_provider(
        uow,
        call,
        action="connect",
        twiml_document=twiml.dial_agent(
            agent_id=data.agent_id, agent_phone=phone, public_url=settings.public_url
        ),
    )
    uow.session.flush()
    return CallOut.model_validate(call)


def hold_call(uow: UnitOfWork, *, tenant_id: str, call_id: str, settings: VoiceSettings) -> CallOut:
    """Put a call with an agent on hold (hold music); publishes ``call.held``. Raises NotFound, Conflict."""
    call = VoiceRepository(uow.session, tenant_id).get_call(call_id, for_update=True)
    _live(call)
    if call.status == "held":
        return CallOut.model_validate(call)
    if call.status != "in_progress":
        raise Conflict(f"only a call with an agent can be held; call {call_id} is {call.status}")
    call.status, call.updated_at = "held", uow.clock.now()
    publish_call_event(uow, call, "call.held", CallHeld(**call_refs(call), agent_id=call.agent_id))
    _ask_provider(uow, call, action="hold", twiml_document=twiml.hold(hold_music_url=settings.hold_music_url))
    uow.session.flush()
    return CallOut.model_validate(call)


def resume_call(uow: UnitOfWork, *, tenant_id: str, call_id: str, settings: VoiceSettings) -> CallOut:
    """Take a held call off hold, back to its agent; publishes ``call.resumed``. Raises NotFound, Conflict."""
    call = VoiceRepository(uow.session, tenant_id).get_call(call_id, for_update=True)
    _live(call)
    if call.status != "held" or call.agent_id is None:
        raise Conflict(f"call {call_id} is not on hold")
    call.status, call.updated_at = "in_progress", uow.clock.now()
    publish_call_event(uow, call, "call.resumed", CallResumed(**call_refs(call), agent_id=call.agent_id))
    _ask_provider(
        uow,
        call,
        action="resume",
        twiml_document=twiml.dial_agent(
            agent_id=call.agent_id, agent_phone=None, public_url=settings.public_url
        ),
    )
    uow.session.flush()
    return CallOut.model_validate(call)


def transfer_call(
    uow: UnitOfWork, *, tenant_id: str, call_id: str, data: TransferIn, settings: VoiceSettings
) -> CallOut:
    """Transfer a call to another agent (connected at once, the conversation assigned to them) or to a
    queue (waiting for an agent again). Publishes ``call.transferred``. Raises NotFound, Conflict."""
    call = VoiceRepository(uow.session, tenant_id).get_call(call_id, for_update=True)
    _live(call)
    from_agent = call.agent_id
    now = uow.clock.now()
    if data.agent_id is not None:
        assert data.agent_name is not None
        if data.agent_id == call.agent_id and call.status == "in_progress":
            raise Conflict(f"call {call_id} is already with {data.agent_name}", field="agent_id")
        phone = _agent_phone(data)
        call.status, call.agent_id, call.agent_name = "in_progress", data.agent_id, data.agent_name
        call.answered_at = call.answered_at or now
        document = twiml.dial_agent(
            agent_id=data.agent_id,
            agent_phone=phone,
            public_url=settings.public_url,
            announcement="Transferring your call.",
        )
        body = f"Call transferred to {data.agent_name}"
    else:
        assert data.queue is not None
        call.status, call.queue, call.skill = "queued", data.queue, data.skill
        call.agent_id = call.agent_name = None
        wait_url = f"{settings.public_url.rstrip('/')}{twiml.HOOKS}/wait" if settings.public_url else None
        document = twiml.enqueue(
            queue=data.queue, announcement="Transferring your call. Please hold.", wait_url=wait_url
        )
        body = f"Call transferred to the {data.queue} queue"
    call.updated_at = now
    _assign(uow, call, call.agent_id)
    post_call_message(uow, call, body=body, client_id=f"call:{call.call_sid}:transfer:{call.updates + 1}")
    publish_call_event(
        uow,
        call,
        "call.transferred",
        CallTransferred(
            **call_refs(call),
            from_agent_id=from_agent,
            to_agent_id=data.agent_id,
            to_agent_name=data.agent_name,
            to_queue=data.queue,
        ),
    )
    _ask_provider(uow, call, action="transfer", twiml_document=document)
    uow.session.flush()
    return CallOut.model_validate(call)


# -- the effect ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallUpdater:
    """Performs ``voice.update_call``: gives the live call its new TwiML through the provider's REST API."""

    settings: VoiceSettings

    async def perform(self, job: EffectJob, read: Reader) -> dict[str, Any]:
        number = str(job.payload["number"])
        route = await read(lambda session: route_for(session, number=number))
        if route is None or route.tenant_id != job.tenant_id:
            raise EffectFailed(f"the number {number} is no longer registered", code="number_removed")
        try:
            answer = await twilio.update_call(
                api_url=self.settings.twilio_api_url,
                account_sid=route.account_sid,
                auth_token=route.auth_token,
                call_sid=str(job.payload["call_sid"]),
                twiml=str(job.payload["twiml"]),
                timeout_s=self.settings.update_timeout_seconds,
            )
        except twilio.CallUpdateRejected as error:
            raise EffectFailed(error.message, code=error.code) from None
        return {"status": str(answer.get("status", ""))}

    def on_done(self, uow: UnitOfWork, job: EffectJob, result: dict[str, Any]) -> None:
        _advance(uow, job)

    def on_failed(self, uow: UnitOfWork, job: EffectJob, failure: EffectFailed) -> None:
        _advance(uow, job)
        payload = job.payload
        uow.publish(
            "call.update_failed",
            tenant_id=job.tenant_id,
            subject=str(payload["conversation_id"]),
            source="cxstack/channels/voice",
            data=CallUpdateFailed(
                call_id=str(payload["call_id"]),
                call_sid=str(payload["call_sid"]),
                customer_id=str(payload["customer_id"]),
                conversation_id=str(payload["conversation_id"]),
                action=str(payload["action"]),
                reason=failure.message,
                error_code=failure.code,
            ),
        )
