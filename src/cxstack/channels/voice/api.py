"""``/v1/channels/voice``: the tenant's phone menu, calls (incoming and outgoing) and what agents do with
them, recordings, escalations from other channels; ``/hooks/voice/<provider>``: the voice provider's
webhooks, read and answered through its plugin.

Webhooks carry no API key. The incoming-call webhook finds its tenant by the number called (a number
registered at ``/v1/channels/sms/numbers``: one registration serves messages and calls); every later
callback finds it by the provider's id of the call, by the call named in the URL cxstack gave the provider
(``?call=``: an outgoing call's callbacks, a conference's recording), or (conference callbacks) by the
conference's name, which is the call's id. Each must carry the provider's signature keyed with that
number's auth token, over the URL with its query.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, NoReturn

import orjson
from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.channels.numbers.schemas import NumberRoute
from cxstack.channels.numbers.service import route_for
from cxstack.channels.providers import FormParams, MalformedWebhook
from cxstack.channels.twilio.webhooks import SignatureRejected, UnknownNumber
from cxstack.channels.voice.calls import conferences, context, control, escalations, outbound, service
from cxstack.channels.voice.calls.service import SOURCE
from cxstack.channels.voice.ivr import flow, menus
from cxstack.channels.voice.plugins.base import VoiceProvider
from cxstack.channels.voice.plugins.twilio import TwilioVoiceProvider
from cxstack.channels.voice.recordings import service as recordings
from cxstack.channels.voice.repository import VoiceRepository
from cxstack.channels.voice.schemas import (
    AgentIn,
    CallContext,
    CallOut,
    EscalationIn,
    EscalationOut,
    IvrDefinition,
    IvrOut,
    OutboundCallIn,
    RecordingOut,
    TransferIn,
)
from cxstack.config import VoiceSettings
from cxstack.kit.errors import NotFound
from cxstack.kit.files import FileStore
from cxstack.kit.pagination import PageOut
from cxstack.web.auth import Caller, caller, config_caller, runtime_of
from cxstack.web.responses import read, write

router = APIRouter(prefix="/v1/channels/voice", tags=["voice"])
hooks = APIRouter(prefix=f"/hooks/voice/{TwilioVoiceProvider.name}", tags=["voice webhooks"])
Who = Annotated[Caller, Depends(caller)]
Configuring = Annotated[Caller, Depends(config_caller)]
Limit = Annotated[int, Query(ge=1, le=200)]
#: The media type of the instructions a call webhook is answered with.
INSTRUCTIONS = "text/xml"


def _settings(request: Request) -> VoiceSettings:
    return runtime_of(request).settings.voice


def _provider(request: Request) -> VoiceProvider:
    return runtime_of(request).services.voice_provider


# -- the menu --------------------------------------------------------------------------------------


@router.get("/ivr", response_model=IvrOut)
async def get_ivr(request: Request, who: Who) -> Response:
    """The phone menu callers hear (the default one until the tenant sets its own)."""
    return await read(request, lambda session: menus.get_ivr(session, tenant_id=who.tenant_id))


@router.put("/ivr", response_model=IvrOut)
async def set_ivr(request: Request, who: Configuring, data: IvrDefinition) -> Response:
    """Set the phone menu: a greeting and options chosen by keypad digit or spoken keyword, each joining
    a queue (with a skill for routing) or taking a voicemail."""
    return await write(request, who, lambda uow: menus.set_ivr(uow, tenant_id=who.tenant_id, data=data))


# -- calls -----------------------------------------------------------------------------------------


@router.get("/calls", response_model=PageOut[CallOut])
async def list_calls(
    request: Request,
    who: Who,
    cursor: str | None = None,
    limit: Limit = 50,
    status: str | None = None,
    customer_id: str | None = None,
) -> Response:
    """The tenant's calls, newest first, filtered by state (queued, in_progress...) and customer."""
    return await read(
        request,
        lambda session: service.list_calls(
            session,
            tenant_id=who.tenant_id,
            cursor=cursor,
            limit=limit,
            status=status,
            customer_id=customer_id,
        ),
    )


@router.post("/calls", status_code=201, response_model=CallOut)
async def place_call(request: Request, who: Who, data: OutboundCallIn) -> Response:
    """Call a customer back (``customer_id`` or ``phone``), in their conversation (``conversation_id``, such
    as the open chat, or their newest open one), from one of the tenant's numbers (``from_number``), for
    the agent who asks (``agent_id``, ``agent_name``; connected when the customer answers, else the call
    waits in ``queue``). The call is ``dialing`` until the provider reports it; a number the provider
    refuses ends it as ``failed`` with the provider's message (``error_message``). Honours
    ``Idempotency-Key``."""
    settings, provider = _settings(request), _provider(request)
    return await write(
        request,
        who,
        lambda uow: outbound.place_call(
            uow, tenant_id=who.tenant_id, data=data, settings=settings, provider=provider
        ),
        status=201,
    )


@router.get("/calls/{call_id}", response_model=CallOut)
async def get_call(request: Request, who: Who, call_id: str) -> Response:
    return await read(
        request, lambda session: service.get_call(session, tenant_id=who.tenant_id, call_id=call_id)
    )


@router.get("/calls/{call_id}/context", response_model=CallContext)
async def get_call_context(request: Request, who: Who, call_id: str) -> Response:
    """The agent's view of the call: the customer with their identities, the conversation's whole
    transcript across channels, what was collected before the call, and the menu choice."""
    return await read(
        request, lambda session: context.call_context(session, tenant_id=who.tenant_id, call_id=call_id)
    )


@router.get("/calls/{call_id}/recordings", response_model=list[RecordingOut])
async def list_call_recordings(request: Request, who: Who, call_id: str) -> Response:
    """The call's recordings: served by cxstack once copied into its file store (``url``), listed with
    the provider's URL until then."""
    found = await runtime_of(request).db.read(
        lambda session: recordings.list_recordings(session, tenant_id=who.tenant_id, call_id=call_id)
    )
    return Response(
        orjson.dumps({"data": [r.model_dump(mode="json") for r in found]}), media_type="application/json"
    )


@router.get("/recordings/{recording_id}", response_model=RecordingOut)
async def get_recording(request: Request, who: Who, recording_id: str) -> Response:
    return await read(
        request,
        lambda session: recordings.get_recording(session, tenant_id=who.tenant_id, recording_id=recording_id),
    )


def _file_store(request: Request) -> FileStore:
    return runtime_of(request).services.files


@router.get(
    "/recordings/{recording_id}/media",
    response_class=Response,
    responses={200: {"content": {"audio/mpeg": {}}}},
)
async def download_recording(request: Request, who: Who, recording_id: str) -> Response:
    """The recording's audio, from cxstack's file store; 409 while it is only at the provider (its URL
    named)."""
    file = await runtime_of(request).db.read(
        lambda session: recordings.stored_recording(
            session, tenant_id=who.tenant_id, recording_id=recording_id
        )
    )
    data = await asyncio.to_thread(_file_store(request).get, file.sha256)
    return Response(
        data,
        media_type=file.content_type,
        headers={"Content-Disposition": f'attachment; filename="{file.name}"'},
    )


@router.post("/calls/{call_id}/connect", response_model=CallOut)
async def connect_call(request: Request, who: Who, call_id: str, data: AgentIn) -> Response:
    """An agent takes a waiting call; the caller is connected to them (``call.answered``)."""
    settings, provider = _settings(request), _provider(request)
    return await write(
        request,
        who,
        lambda uow: control.connect_agent(
            uow, tenant_id=who.tenant_id, call_id=call_id, data=data, settings=settings, provider=provider
        ),
    )


@router.post("/calls/{call_id}/hold", response_model=CallOut)
async def hold_call(request: Request, who: Who, call_id: str) -> Response:
    settings = _settings(request)
    return await write(
        request,
        who,
        lambda uow: control.hold_call(uow, tenant_id=who.tenant_id, call_id=call_id, settings=settings),
    )


@router.post("/calls/{call_id}/resume", response_model=CallOut)
async def resume_call(request: Request, who: Who, call_id: str) -> Response:
    settings = _settings(request)
    return await write(
        request,
        who,
        lambda uow: control.resume_call(uow, tenant_id=who.tenant_id, call_id=call_id, settings=settings),
    )


@router.post("/calls/{call_id}/transfer", response_model=CallOut)
async def transfer_call(request: Request, who: Who, call_id: str, data: TransferIn) -> Response:
    """Transfer to another agent (``agent_id``, ``agent_name``) or to a queue (``queue``)."""
    settings, provider = _settings(request), _provider(request)
    return await write(
        request,
        who,
        lambda uow: control.transfer_call(
            uow, tenant_id=who.tenant_id, call_id=call_id, data=data, settings=settings, provider=provider
        ),
    )


@router.post("/escalations", status_code=201, response_model=EscalationOut)
async def request_call(request: Request, who: Who, data: EscalationIn) -> Response:
    """Continue a conversation by phone: the customer's next call from ``phone`` joins it, and its agent
    sees the whole conversation and what was collected (``call.requested``)."""
    return await write(
        request,
        who,
        lambda uow: escalations.request_call(uow, tenant_id=who.tenant_id, data=data),
        status=201,
    )


@router.get("/escalations/{escalation_id}", response_model=EscalationOut)
async def get_escalation(request: Request, who: Who, escalation_id: str) -> Response:
    return await read(
        request,
        lambda session: escalations.get_escalation(
            session, tenant_id=who.tenant_id, escalation_id=escalation_id
        ),
    )


# -- the provider's webhooks -----------------------------------------------------------------------------


async def _number_route(request: Request, number: str, *, field: str) -> NumberRoute:
    found = await runtime_of(request).db.read(lambda session: route_for(session, number=number))
    if found is None:
        raise UnknownNumber(f"no tenant has registered the number {number}", field=field)
    return found


async def _reject(
    request: Request,
    route: NumberRoute,
    provider: VoiceProvider,
    *,
    reason: str,
    detail: str,
    params: FormParams,
) -> NoReturn:
    """Audit a refused webhook and raise SignatureRejected."""
    url = provider.signed_url(request)
    call_sid = provider.call_named(params)
    await runtime_of(request).db.write(
        lambda uow: service.record_rejected_webhook(
            uow, tenant_id=route.tenant_id, number=route.number, reason=reason, url=url, call_sid=call_sid
        ),
        context=Context(actor=f"voice:{route.number}", source=SOURCE),
    )
    raise SignatureRejected(
        detail, field=provider.signature_header if reason != "account_mismatch" else "AccountSid"
    )


async def _call_route(
    request: Request, provider: VoiceProvider, params: FormParams, *, conference: bool
) -> service.CallRoute:
    """The call a callback is about: by the provider's id of it, else by the call its URL names
    (``?call=``), else (a conference callback) by the conference's name; raises MalformedWebhook,
    NotFound."""
    db = runtime_of(request).db
    call_id = request.query_params.get("call")
    if conference:
        call_id = provider.conference_name(params)
    elif provider.call_named(params) or not call_id:
        call_sid = provider.call_sid_of(params)
        found = await db.read(lambda session: service.route_of_call(session, call_sid=call_sid))
        if found is not None:
            return found
        if not call_id:
            raise NotFound(f"no call {call_sid} is known", field="CallSid")
    assert call_id is not None
    named = call_id
    found = await db.read(lambda session: service.route_of_call_id(session, call_id=named))
    if found is None:
        field = "FriendlyName" if conference else "call"
        raise NotFound(f"no call {named} is known", field=field)
    return found


async def _verified(
    request: Request, provider: VoiceProvider, *, incoming: bool = False, conference: bool = False
) -> tuple[NumberRoute, FormParams, str | None]:
    """Return the route of the number the webhook is about, its form and the id of the call it is about
    (None for an incoming call), once its signature and account are checked; raises MalformedWebhook
    (400), UnknownNumber or SignatureRejected (403, audited), NotFound (a callback about a call cxstack
    never saw)."""
    params = await provider.read_form(request)
    call_id: str | None = None
    if incoming:
        route = await _number_route(request, provider.called_number(params), field="To")
    else:
        call = await _call_route(request, provider, params, conference=conference)
        call_id = call.call_id
        route = await _number_route(request, call.number, field="CallSid")
        if route.tenant_id != call.tenant_id:
            raise NotFound(f"no call {call.call_id} is known", field="CallSid")
    problem = provider.signature_problem(request, params, auth_token=route.auth_token)
    if problem is not None:
        await _reject(request, route, provider, reason=problem[0], detail=problem[1], params=params)
    account_sid = provider.account_of(params)
    if account_sid != route.account_sid:
        await _reject(
            request,
            route,
            provider,
            reason="account_mismatch",
            detail=f"AccountSid {account_sid} is not the account of {route.number}",
            params=params,
        )
    return route, params, call_id


def _answer(instructions: str) -> Response:
    return Response(instructions.encode(), media_type=INSTRUCTIONS)


def _context(route: NumberRoute) -> Context:
    return Context(actor=f"voice:{route.number}", source=SOURCE)


ANSWER_RESPONSES: dict[int | str, dict[str, object]] = {200: {"content": {INSTRUCTIONS: {}}}}


@hooks.post("/incoming", response_class=Response, responses=ANSWER_RESPONSES)
async def twilio_incoming(request: Request) -> Response:
    """Twilio's incoming-call webhook (point the number's "A call comes in" here): answers with the menu.

    400 names a missing or unreadable field; 403 (audited) for a missing or wrong ``X-Twilio-Signature``.
    A retried ``CallSid`` is recorded once.
    """
    provider = _provider(request)
    route, params, _ = await _verified(request, provider, incoming=True)
    call = provider.parse_incoming(params)
    db = runtime_of(request).db
    try:
        answer = await db.write(
            lambda uow: service.receive_call(uow, route=route, call=call, provider=provider),
            context=_context(route),
        )
    except IntegrityError:
        # The same call (or the caller's first contact) raced another delivery, which has committed now.
        answer = await db.write(
            lambda uow: service.receive_call(uow, route=route, call=call, provider=provider),
            context=_context(route),
        )
    return _answer(answer.instructions)


@hooks.post("/gather", response_class=Response, responses=ANSWER_RESPONSES)
async def twilio_gather(request: Request, attempt: Annotated[int, Query(ge=1, le=100)] = 1) -> Response:
    """The menu's ``<Gather>`` action: ``Digits`` or ``SpeechResult`` choose an option."""
    provider = _provider(request)
    route, params, _ = await _verified(request, provider)
    given = provider.parse_menu_input(params)
    document = await runtime_of(request).db.write(
        lambda uow: flow.answer_menu(
            uow, tenant_id=route.tenant_id, given=given, attempt=attempt, provider=provider
        ),
        context=_context(route),
    )
    return _answer(document)


@hooks.post("/wait", response_class=Response, responses=ANSWER_RESPONSES)
async def twilio_wait(request: Request) -> Response:
    """The ``<Enqueue>`` wait URL: what a queued caller hears until an agent takes the call."""
    provider = _provider(request)
    await _verified(request, provider)
    return _answer(provider.hold_loop(hold_music_url=_settings(request).hold_music_url))


@hooks.post("/voicemail", response_class=Response, responses=ANSWER_RESPONSES)
async def twilio_voicemail(request: Request) -> Response:
    """The voicemail ``<Record>`` action, once the caller finished: thanks them and hangs up (the
    recording is attached when its status callback arrives)."""
    provider = _provider(request)
    route, params, _ = await _verified(request, provider)
    call_sid = provider.call_sid_of(params)
    document = await runtime_of(request).db.read(
        lambda session: recordings.after_voicemail(
            session, tenant_id=route.tenant_id, call_sid=call_sid, provider=provider
        )
    )
    return _answer(document)


@hooks.post("/recording", status_code=204, response_class=Response)
async def twilio_recording(request: Request) -> Response:
    """Recording status callback: a completed recording is attached to the call's conversation and copied
    into cxstack's file store, once per ``RecordingSid``. A conference's recording names its call in the
    URL (``?call=``)."""
    provider = _provider(request)
    route, params, call_id = await _verified(request, provider)
    report = provider.parse_recording(params)

    def attach(uow: UnitOfWork) -> str | None:
        call = None
        if report.call_sid is None and call_id is not None:
            call = VoiceRepository(uow.session, route.tenant_id).get_call(call_id, for_update=True)
        return recordings.attach_recording(uow, tenant_id=route.tenant_id, report=report, call=call)

    await runtime_of(request).db.write(attach, context=_context(route))
    return Response(status_code=204)


@hooks.post("/transcription", status_code=204, response_class=Response)
async def twilio_transcription(request: Request) -> Response:
    """Transcription callback: the transcript is posted to the call's conversation, once."""
    provider = _provider(request)
    route, params, _ = await _verified(request, provider)
    report = provider.parse_transcription(params)
    await runtime_of(request).db.write(
        lambda uow: recordings.attach_transcript(uow, tenant_id=route.tenant_id, report=report),
        context=_context(route),
    )
    return Response(status_code=204)


@hooks.post("/status", status_code=204, response_class=Response)
async def twilio_status(request: Request) -> Response:
    """Call status callback (the number's "Call status changes"): ringing, in-progress, completed, busy,
    no-answer, failed, canceled with ``CallDuration``. Each status of a call is recorded once, and never
    replaces a later one."""
    provider = _provider(request)
    route, params, call_id = await _verified(request, provider)
    report = provider.parse_status(params)

    def record(uow: UnitOfWork) -> object:
        if call_id is not None:
            service.adopt_call_sid(uow, tenant_id=route.tenant_id, call_id=call_id, call_sid=report.call_sid)
        return service.record_status(uow, tenant_id=route.tenant_id, report=report)

    await runtime_of(request).db.write(record, context=_context(route))
    return Response(status_code=204)


@hooks.post("/outbound", response_class=Response, responses=ANSWER_RESPONSES)
async def twilio_outbound(request: Request) -> Response:
    """An outgoing call's ``Url``, fetched when the customer answers (``?call=`` names the call): connects
    them with the agent who asked for the call, in the call's conference, or queues them."""
    provider = _provider(request)
    route, params, call_id = await _verified(request, provider)
    if call_id is None:
        raise MalformedWebhook("the URL names no call (?call=)", field="call")
    answered = provider.parse_answered(params)
    settings = _settings(request)
    document = await runtime_of(request).db.write(
        lambda uow: outbound.answer_outbound(
            uow,
            tenant_id=route.tenant_id,
            call_id=call_id,
            answered=answered,
            settings=settings,
            provider=provider,
        ),
        context=_context(route),
    )
    return _answer(document)


@hooks.post("/conference", status_code=204, response_class=Response)
async def twilio_conference(request: Request) -> Response:
    """Conference status callback (conference-start, conference-end, participant-join, participant-leave,
    participant-hold...): records the conference's id and its participants on the call its
    ``FriendlyName`` names, once per event."""
    provider = _provider(request)
    route, params, call_id = await _verified(request, provider, conference=True)
    assert call_id is not None
    report = provider.parse_conference(params)
    await runtime_of(request).db.write(
        lambda uow: conferences.record_conference_event(
            uow, tenant_id=route.tenant_id, call_id=call_id, report=report, provider=provider
        ),
        context=_context(route),
    )
    return Response(status_code=204)
