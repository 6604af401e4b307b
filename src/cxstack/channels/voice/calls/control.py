"""What agents do with a call: take it, hold it, take it off hold, transfer it.

The customer and their agent talk in a conference of the call's own (named after the call's id): taking a
call moves the customer's leg into it (new instructions for the live call) and dials the agent in as a
participant; hold and resume hold and unhold the customer's participant (hold music for them, the agent
stays on the line); a transfer to another agent dials the new agent in and hangs up the previous one's leg;
a transfer to a queue moves the customer's leg back to the queue (ending the conference).

Each action asks the provider for the changes by the ``voice.update_call`` effect, after the transaction
commits: no provider is called inside a unit of work. One change of a call is in flight at a time, the next
handed over when it is done, so the provider sees them in the order agents made them. Should the provider
refuse one (the caller hung up meanwhile), ``call.update_failed`` says so.

What users see follows the provider's answer, not the request: taking a call makes it ``connecting``, and
it is ``in_progress`` (``call.answered``, "Call answered by ...") only once the provider has dialled the
agent into the conference (its answer to the request, or the conference callback of the agent joining);
should the provider refuse, the call goes back to where it was. Hold, resume and transfers change the call
and publish their events at once. Each request checks, when it finally runs, that the call is still live:
one whose call has ended since is dropped, never sent (a retried request never drags a finished call into
a conference or dials an agent for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from cxstack.backbone.effects import EffectFailed, EffectJob, Reader, enqueue_effect
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.numbers.service import route_for
from cxstack.channels.providers import ProviderAccount
from cxstack.channels.voice.calls.service import ENDED, call_refs, post_call_message, publish_call_event
from cxstack.channels.voice.models import VoiceCall
from cxstack.channels.voice.plugins.base import CallRejected, ProviderUnavailable, VoiceProvider
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
from cxstack.config import VoiceSettings
from cxstack.kit.errors import Conflict
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import ConversationUpdate
from cxstack.records.customers import service as customers

#: The effect that changes a live call at the provider.
UPDATE_EFFECT = "voice.update_call"
#: States from which an agent may take a call.
TAKEABLE = ("ringing", "in_menu", "queued", "voicemail")
#: An agent took the call; the provider has not confirmed the agent is being connected yet.
CONNECTING = "connecting"


def _hand_over(uow: UnitOfWork, call: VoiceCall, update: dict[str, Any]) -> None:
    enqueue_effect(
        uow,
        tenant_id=call.tenant_id,
        kind=UPDATE_EFFECT,
        key=f"{call.id}:{update['n']}",
        payload={**call_refs(call), **update, "account_sid": call.account_sid, "number": call.number},
    )


def ask_provider(uow: UnitOfWork, call: VoiceCall, *, action: str, op: str, **fields: Any) -> None:
    """Queue one request about the live call (``op``: ``redirect`` with the new instructions in ``twiml``,
    ``add_agent`` with ``agent_id`` and ``to``, ``hold`` with ``hold``, ``remove_agent`` with
    ``agent_id``), made for the agent's ``action``; it is handed to the provider once the requests before it
    are done."""
    call.updates += 1
    update = {"n": call.updates, "action": action, "op": op, **fields}
    if not call.pending_updates:
        _hand_over(uow, call, update)
    call.pending_updates = [*call.pending_updates, update]


def join_conference(
    uow: UnitOfWork,
    call: VoiceCall,
    *,
    action: str,
    agent_id: str,
    agent_phone: str | None,
    settings: VoiceSettings,
    provider: VoiceProvider,
    announcement: str | None = None,
    customer_leg: bool = True,
    **fields: Any,
) -> str:
    """Bring the customer and the agent together in the call's conference: the customer's leg is moved
    there (unless ``customer_leg`` is False: the caller of this answers with the returned instructions
    itself) and the agent is dialed in (``fields`` go with both requests). Returns the customer's
    instructions."""
    document = provider.conference(
        name=call.id,
        public_url=settings.public_url,
        hold_music_url=settings.hold_music_url,
        announcement=announcement,
    )
    if customer_leg:
        ask_provider(uow, call, action=action, op="redirect", twiml=document, **fields)
    ask_provider(
        uow,
        call,
        action=action,
        op="add_agent",
        agent_id=agent_id,
        to=agent_phone or f"client:{agent_id}",
        **fields,
    )
    return document


def _advance(uow: UnitOfWork, job: EffectJob, *, refused: bool = False) -> None:
    """A change is done (or, ``refused``, refused for good): hand the next one of the call over."""
    call = VoiceRepository(uow.session, job.tenant_id).get_call(str(job.payload["call_id"]), for_update=True)
    call.pending_updates = [update for update in call.pending_updates if update["n"] != job.payload["n"]]
    if refused and job.payload.get("action") == "connect":
        _connect_refused(uow, call, job.payload)
    if call.pending_updates:
        _hand_over(uow, call, call.pending_updates[0])


def _live(call: VoiceCall) -> None:
    if call.status in ENDED:
        raise Conflict(f"call {call.id} has ended ({call.status})", field="call_id")
    if call.status == "dialing" or call.call_sid is None:
        raise Conflict(f"call {call.id} to {call.to_number} has not been answered yet", field="call_id")


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
    uow: UnitOfWork,
    *,
    tenant_id: str,
    call_id: str,
    data: AgentIn,
    settings: VoiceSettings,
    provider: VoiceProvider,
) -> CallOut:
    """An agent takes a waiting call: the call is ``connecting`` to them (the conversation assigned to
    them) and the provider is asked to bring them together; it is answered once the provider confirms
    (``agent_connected``). Raises NotFound, Conflict (a call that ended or has an agent)."""
    call = VoiceRepository(uow.session, tenant_id).get_call(call_id, for_update=True)
    _live(call)
    if call.status not in TAKEABLE:
        raise Conflict(
            f"call {call_id} is {call.status.replace('_', ' ')} with {call.agent_name}; transfer it instead",
            field="call_id",
        )
    phone = _agent_phone(data)
    was = call.status
    call.status, call.agent_id, call.agent_name = CONNECTING, data.agent_id, data.agent_name
    call.updated_at = uow.clock.now()
    _assign(uow, call, data.agent_id)
    # The previous state goes with the requests: should the provider refuse, the call goes back to it.
    join_conference(
        uow,
        call,
        action="connect",
        agent_id=data.agent_id,
        agent_phone=phone,
        settings=settings,
        provider=provider,
        was=was,
    )
    uow.session.flush()
    return CallOut.model_validate(call)


def agent_connected(uow: UnitOfWork, call: VoiceCall, *, agent_id: str) -> None:
    """The provider confirmed that ``agent_id`` is being connected to a ``connecting`` call: it is
    answered (``in_progress``, "Call answered by ...", ``call.answered``). Anything else changes nothing,
    so the provider's answer and the conference callback may both say it."""
    if call.status != CONNECTING or call.agent_id != agent_id:
        return
    now = uow.clock.now()
    call.status = "in_progress"
    call.answered_at = call.updated_at = now
    post_call_message(
        uow, call, body=f"Call answered by {call.agent_name}", client_id=f"call:{call.call_sid}:answered"
    )
    publish_call_event(
        uow,
        call,
        CallAnswered(
            **call_refs(call),
            agent_id=agent_id,
            agent_name=call.agent_name or agent_id,
            waited_s=max(0, int((now - call.created_at).total_seconds())),
        ),
    )


def _connect_refused(uow: UnitOfWork, call: VoiceCall, update: dict[str, Any]) -> None:
    """The provider refused a request of an agent taking the call: the agent is not dialled (the take's
    other requests are dropped) and the call goes back to where it was, without an agent."""
    remaining = [u for u in call.pending_updates if u.get("action") != "connect"]
    call.pending_updates = remaining
    if call.status != CONNECTING:
        return
    call.status = str(update.get("was") or "queued")
    call.agent_id = call.agent_name = None
    call.updated_at = uow.clock.now()
    _assign(uow, call, None)


def hold_call(uow: UnitOfWork, *, tenant_id: str, call_id: str, settings: VoiceSettings) -> CallOut:
    """Put the customer of a call with an agent on hold (hold music for them; the agent stays in the
    conference); publishes ``call.held``. Raises NotFound, Conflict."""
    call = VoiceRepository(uow.session, tenant_id).get_call(call_id, for_update=True)
    _live(call)
    if call.status == "held":
        return CallOut.model_validate(call)
    if call.status != "in_progress":
        raise Conflict(f"only a call with an agent can be held; call {call_id} is {call.status}")
    call.status, call.updated_at = "held", uow.clock.now()
    publish_call_event(uow, call, CallHeld(**call_refs(call), agent_id=call.agent_id))
    ask_provider(uow, call, action="hold", op="hold", hold=True)
    uow.session.flush()
    return CallOut.model_validate(call)


def resume_call(uow: UnitOfWork, *, tenant_id: str, call_id: str, settings: VoiceSettings) -> CallOut:
    """Take a held call off hold, back to its agent; publishes ``call.resumed``. Raises NotFound, Conflict."""
    call = VoiceRepository(uow.session, tenant_id).get_call(call_id, for_update=True)
    _live(call)
    if call.status != "held" or call.agent_id is None:
        raise Conflict(f"call {call_id} is not on hold")
    call.status, call.updated_at = "in_progress", uow.clock.now()
    publish_call_event(uow, call, CallResumed(**call_refs(call), agent_id=call.agent_id))
    ask_provider(uow, call, action="resume", op="hold", hold=False)
    uow.session.flush()
    return CallOut.model_validate(call)


def transfer_call(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    call_id: str,
    data: TransferIn,
    settings: VoiceSettings,
    provider: VoiceProvider,
) -> CallOut:
    """Transfer a call to another agent (connected at once, the conversation assigned to them) or to a
    queue (waiting for an agent again). Publishes ``call.transferred``. Raises NotFound, Conflict."""
    call = VoiceRepository(uow.session, tenant_id).get_call(call_id, for_update=True)
    _live(call)
    from_agent, was = call.agent_id, call.status
    now = uow.clock.now()
    if data.agent_id is not None:
        assert data.agent_name is not None
        if data.agent_id == call.agent_id and call.status == "in_progress":
            raise Conflict(f"call {call_id} is already with {data.agent_name}", field="agent_id")
        phone = _agent_phone(data)
        call.status, call.agent_id, call.agent_name = "in_progress", data.agent_id, data.agent_name
        call.answered_at = call.answered_at or now
        if was in ("in_progress", "held") and from_agent is not None:
            # The customer stays in the conference: the new agent joins, the previous one leaves.
            ask_provider(
                uow,
                call,
                action="transfer",
                op="add_agent",
                agent_id=data.agent_id,
                to=phone or f"client:{data.agent_id}",
            )
            if from_agent != data.agent_id:
                ask_provider(uow, call, action="transfer", op="remove_agent", agent_id=from_agent)
            if was == "held":
                ask_provider(uow, call, action="transfer", op="hold", hold=False)
        else:
            join_conference(
                uow,
                call,
                action="transfer",
                agent_id=data.agent_id,
                agent_phone=phone,
                settings=settings,
                provider=provider,
                announcement="Transferring your call.",
            )
        body = f"Call transferred to {data.agent_name}"
    else:
        assert data.queue is not None
        call.status, call.queue, call.skill = "queued", data.queue, data.skill
        call.agent_id = call.agent_name = None
        wait_url = f"{settings.public_url.rstrip('/')}{provider.hooks}/wait" if settings.public_url else None
        document = provider.enqueue(
            queue=data.queue, announcement="Transferring your call. Please hold.", wait_url=wait_url
        )
        # Leaving the conference ends it (the customer's leg ends it on exit): the agent is released.
        ask_provider(uow, call, action="transfer", op="redirect", twiml=document, leaves_conference=True)
        body = f"Call transferred to the {data.queue} queue"
    call.updated_at = now
    _assign(uow, call, call.agent_id)
    post_call_message(uow, call, body=body, client_id=f"call:{call.id}:transfer:{call.updates}")
    publish_call_event(
        uow,
        call,
        CallTransferred(
            **call_refs(call),
            from_agent_id=from_agent,
            to_agent_id=data.agent_id,
            to_agent_name=data.agent_name,
            to_queue=data.queue,
        ),
    )
    uow.session.flush()
    return CallOut.model_validate(call)


# -- the effect ------------------------------------------------------------------------------------


def conference_of(session: Session, *, tenant_id: str, call_id: str) -> tuple[str, str | None, list[Any]]:
    """The call's state, its running conference (its provider id, or None) and its participants."""
    call = VoiceRepository(session, tenant_id).get_call(call_id)
    return call.status, call.conference_sid, list(call.participants)


def upsert_participant(call: VoiceCall, call_sid: str, **fields: Any) -> None:
    """Record what is known of a participant of the call's conference (lists are replaced, not changed
    in place, so the change is saved)."""
    participants = [dict(p) for p in call.participants]
    for participant in participants:
        if participant.get("call_sid") == call_sid:
            participant.update({k: v for k, v in fields.items() if v is not None})
            break
    else:
        participants.append({"call_sid": call_sid, **{k: v for k, v in fields.items() if v is not None}})
    call.participants = participants


@dataclass(frozen=True, slots=True)
class CallUpdater:
    """Performs ``voice.update_call``: one request about a live call at the provider (new instructions for
    the customer's leg, an agent dialed into the conference or hung up, the customer held or not)."""

    settings: VoiceSettings
    provider: VoiceProvider

    async def perform(self, job: EffectJob, read: Reader) -> dict[str, Any]:
        payload = job.payload
        number = str(payload["number"])
        route = await read(lambda session: route_for(session, number=number))
        if route is None or route.tenant_id != job.tenant_id:
            raise EffectFailed(f"the number {number} is no longer registered", code="number_removed")
        account = ProviderAccount(route.account_sid, route.auth_token)
        op = str(payload.get("op", "redirect"))
        call_id = str(payload["call_id"])
        status, conference_sid, participants = await read(
            lambda session: conference_of(session, tenant_id=job.tenant_id, call_id=call_id)
        )
        if status in ENDED:
            # What the request was for no longer holds: a finished call is left alone.
            return {"skipped": f"call {call_id} has ended ({status})"}
        try:
            if op == "redirect":
                call_status = await self.provider.redirect_call(
                    account, call_sid=str(payload["call_sid"]), instructions=str(payload["twiml"])
                )
                return {"status": call_status}
            if op == "add_agent":
                agent_id = str(payload["agent_id"])
                leg = await self.provider.bridge_agent(
                    account,
                    conference=str(payload["call_id"]),
                    from_=number,
                    to=str(payload["to"]),
                    agent_id=agent_id,
                )
                return {
                    "conference_sid": leg.conference_sid,
                    "participant_call_sid": leg.call_sid,
                    "agent_id": agent_id,
                }
            if conference_sid is None:
                # Retried: the conference's id comes with the agent's joining or its start callback.
                raise ProviderUnavailable(f"the conference of call {call_id} has not started yet")
            if op == "hold":
                hold = bool(payload["hold"])
                await self.provider.hold_participant(
                    account,
                    conference_sid=conference_sid,
                    participant=str(payload["call_sid"]),
                    hold=hold,
                    hold_music_url=self.settings.hold_music_url,
                )
                return {"hold": hold}
            if op == "remove_agent":
                agent_id = str(payload["agent_id"])
                legs = [
                    p["call_sid"]
                    for p in participants
                    if p.get("agent_id") == agent_id and p.get("role") == "agent" and not p.get("left_at")
                ]
                target = legs[-1] if legs else self.provider.agent_label(agent_id)
                # An agent who has hung up already counts as removed.
                await self.provider.hang_up_participant(
                    account, conference_sid=conference_sid, participant=target
                )
                return {"removed": target}
            raise EffectFailed(f"unknown call update {op!r}", code="unknown_update")
        except CallRejected as error:
            raise EffectFailed(error.message, code=error.code) from None

    def on_done(self, uow: UnitOfWork, job: EffectJob, result: dict[str, Any]) -> None:
        if result.get("skipped"):
            _advance(uow, job)
            return
        # Requests run in order, so the conference's id as of this one is what the next ones act on.
        if job.payload.get("leaves_conference"):
            call = VoiceRepository(uow.session, job.tenant_id).get_call(
                str(job.payload["call_id"]), for_update=True
            )
            call.conference_sid = None
        if job.payload.get("op") == "add_agent" and result.get("participant_call_sid"):
            call = VoiceRepository(uow.session, job.tenant_id).get_call(
                str(job.payload["call_id"]), for_update=True
            )
            if result.get("conference_sid"):
                call.conference_sid = str(result["conference_sid"])
            upsert_participant(
                call,
                str(result["participant_call_sid"]),
                role="agent",
                agent_id=str(result["agent_id"]),
                label=self.provider.agent_label(str(result["agent_id"])),
            )
            # The provider dialled the agent into the conference: a call being taken is answered now.
            agent_connected(uow, call, agent_id=str(result["agent_id"]))
        _advance(uow, job)

    def on_failed(self, uow: UnitOfWork, job: EffectJob, failure: EffectFailed) -> None:
        _advance(uow, job, refused=True)
        payload = job.payload
        uow.publish(
            CallUpdateFailed(
                call_id=str(payload["call_id"]),
                call_sid=str(payload["call_sid"]) if payload.get("call_sid") else None,
                customer_id=str(payload["customer_id"]),
                conversation_id=str(payload["conversation_id"]),
                action=str(payload["action"]),
                reason=failure.message,
                error_code=failure.code,
            ),
            tenant_id=job.tenant_id,
            subject=str(payload["conversation_id"]),
            source="cxstack/channels/voice",
        )
