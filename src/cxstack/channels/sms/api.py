"""``/v1/channels/sms``: a tenant's SMS numbers, sends and opt-outs; ``/hooks/sms/twilio``: Twilio's webhooks.

Webhooks carry no API key: the number posted for (``To`` of a message, ``From`` of a status callback)
names the tenant, and the provider's signature, keyed with that number's auth token, proves the sender.
"""

from __future__ import annotations

from typing import Annotated, NoReturn

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from cxstack.backbone.unit_of_work import Context
from cxstack.channels.numbers import service as numbers
from cxstack.channels.numbers.routes import RouteCache
from cxstack.channels.numbers.schemas import NumberCreate, NumberOut, NumberRoute
from cxstack.channels.providers import FormParams, MalformedWebhook
from cxstack.channels.sms import outbound, service
from cxstack.channels.sms.intake import InboundRequest, receive_sms_batch
from cxstack.channels.sms.plugins.twilio import TwilioSmsProvider
from cxstack.channels.sms.schemas import OptOutOut, OutboundOut
from cxstack.channels.sms.service import SOURCE
from cxstack.channels.twilio.forms import webhook_country, webhook_phone
from cxstack.channels.twilio.webhooks import (
    SignatureRejected,
    UnknownNumber,
    read_form,
    signature_problem,
    signed_url,
)
from cxstack.kit.pagination import PageOut
from cxstack.web.auth import Caller, caller, config_caller, runtime_of
from cxstack.web.responses import read, write

router = APIRouter(prefix="/v1/channels/sms", tags=["sms"])
hooks = APIRouter(prefix="/hooks/sms", tags=["sms webhooks"])
Who = Annotated[Caller, Depends(caller)]
Configuring = Annotated[Caller, Depends(config_caller)]
Limit = Annotated[int, Query(ge=1, le=200)]

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
_twilio = TwilioSmsProvider()


# -- numbers, sends and opt-outs -------------------------------------------------------------------


def number_routes(request: Request) -> RouteCache:
    """Return the process's cache of numbers' routes (forgotten when a number is registered or removed)."""
    return runtime_of(request).services.number_routes


def _forget_routes(request: Request) -> None:
    number_routes(request).clear()


@router.post("/numbers", status_code=201, response_model=NumberOut)
async def register_number(request: Request, who: Configuring, data: NumberCreate) -> Response:
    """Register a number at its provider: its webhooks then reach this tenant, and SMS conversations
    send from it. The auth token is stored to check signatures and never returned."""
    response = await write(
        request,
        who,
        lambda uow: numbers.register_number(uow, tenant_id=who.tenant_id, data=data),
        status=201,
    )
    _forget_routes(request)
    return response


@router.get("/numbers", response_model=PageOut[NumberOut])
async def list_numbers(request: Request, who: Who, cursor: str | None = None, limit: Limit = 50) -> Response:
    """List the tenant's numbers, oldest first, one page at a time."""
    return await read(
        request,
        lambda session: numbers.list_numbers(session, tenant_id=who.tenant_id, cursor=cursor, limit=limit),
    )


@router.get("/numbers/{number_id}", response_model=NumberOut)
async def get_number(request: Request, who: Who, number_id: str) -> Response:
    return await read(
        request, lambda session: numbers.get_number(session, tenant_id=who.tenant_id, number_id=number_id)
    )


@router.delete("/numbers/{number_id}", status_code=204)
async def remove_number(request: Request, who: Configuring, number_id: str) -> Response:
    """Remove a number: its webhooks are refused from then on."""
    response = await write(
        request,
        who,
        lambda uow: numbers.remove_number(uow, tenant_id=who.tenant_id, number_id=number_id),
        status=204,
    )
    _forget_routes(request)
    return response


@router.get("/messages/{message_id}", response_model=OutboundOut)
async def get_send(request: Request, who: Who, message_id: str) -> Response:
    """What became of an outbound message of an SMS conversation: sent (with the provider's status),
    refused (opted out, no phone, no number) or failed (the provider's error code and message)."""
    return await read(
        request,
        lambda session: outbound.get_outbound(session, tenant_id=who.tenant_id, message_id=message_id),
    )


@router.get("/opt-outs", response_model=PageOut[OptOutOut])
async def list_opt_outs(
    request: Request,
    who: Who,
    cursor: str | None = None,
    limit: Limit = 50,
    opted_out: Annotated[bool | None, Query(description="Only numbers opted out (true) or in.")] = None,
) -> Response:
    """Phone numbers that sent an opt-out keyword, with their current state."""
    return await read(
        request,
        lambda session: service.list_opt_outs(
            session, tenant_id=who.tenant_id, cursor=cursor, limit=limit, opted_out=opted_out
        ),
    )


@router.get("/opt-outs/{phone}", response_model=OptOutOut)
async def get_opt_out(request: Request, who: Who, phone: str, region: str = "US") -> Response:
    return await read(
        request,
        lambda session: service.get_opt_out(session, tenant_id=who.tenant_id, phone=phone, region=region),
    )


# -- Twilio's webhooks -----------------------------------------------------------------------------


async def _route(request: Request, params: FormParams, *, field: str) -> NumberRoute:
    """Return the route of the number in ``field``; raises MalformedWebhook, UnknownNumber."""
    raw = next((value for name, value in params if name == field), "").strip()
    if not raw:
        raise MalformedWebhook(f"the webhook has no {field}", field=field)
    country = webhook_country(
        next((value for name, value in params if name == f"{field}Country"), None), field=f"{field}Country"
    )
    number = webhook_phone(raw, field=field, country=country)
    routes = number_routes(request)
    cached = routes.get(number)
    if cached is not None:
        return cached
    found = await runtime_of(request).db.read(lambda session: numbers.route_for(session, number=number))
    if found is None:
        raise UnknownNumber(f"no tenant has registered the number {number}", field=field)
    routes.put(number, found)
    return found


async def _reject(
    request: Request, route: NumberRoute, *, reason: str, detail: str, params: FormParams
) -> NoReturn:
    """Audit a refused webhook and raise SignatureRejected."""
    url = signed_url(request)
    message_sid = next((value for name, value in params if name == "MessageSid"), None)
    await runtime_of(request).db.write(
        lambda uow: service.record_rejected_webhook(
            uow, route=route, reason=reason, url=url, message_sid=message_sid
        ),
        context=Context(actor=f"sms:{route.number}", source=SOURCE),
    )
    raise SignatureRejected(
        detail, field="X-Twilio-Signature" if reason != "account_mismatch" else "AccountSid"
    )


async def _verified(request: Request, *, number_field: str) -> tuple[NumberRoute, FormParams]:
    params = await read_form(request)
    route = await _route(request, params, field=number_field)
    problem = signature_problem(request, params, auth_token=route.auth_token)
    if problem is not None:
        await _reject(request, route, reason=problem[0], detail=problem[1], params=params)
    return route, params


async def _account_matches(
    request: Request, route: NumberRoute, account_sid: str, params: FormParams
) -> None:
    if account_sid != route.account_sid:
        await _reject(
            request,
            route,
            reason="account_mismatch",
            detail=f"AccountSid {account_sid} is not the account of {route.number}",
            params=params,
        )


@hooks.post("/twilio", response_class=Response, responses={200: {"content": {"text/xml": {}}}})
async def twilio_message(request: Request) -> Response:
    """Twilio's incoming-message webhook (point the number's "A message comes in" here).

    Answers empty TwiML. 400 names a missing or unreadable field; 403 (audited) for a missing or wrong
    ``X-Twilio-Signature``. A retried ``MessageSid`` is processed once.
    """
    route, params = await _verified(request, number_field="To")
    sms = _twilio.parse_inbound(params)
    await _account_matches(request, route, sms.account_sid, params)
    context = Context(actor=f"sms:{route.number}", source=SOURCE)
    db = runtime_of(request).db
    inbound = InboundRequest(route, sms)
    try:
        # Written together with the other webhooks waiting for the writer (see ``intake``).
        await db.write_batched(receive_sms_batch, inbound, context=context)
    except IntegrityError:
        # The same message (or the sender's first message) raced another delivery; once the other one
        # committed, this one finds its work done (or the customer made).
        await db.write_batched(receive_sms_batch, inbound, context=context)
    return Response(EMPTY_TWIML, media_type="text/xml")


@hooks.post("/twilio/status", status_code=204, response_class=Response)
async def twilio_status(request: Request) -> Response:
    """Twilio's message status callback (sent with each outbound message as ``StatusCallback``).

    400 names a missing or unreadable field; 403 (audited) for a missing or wrong signature. The same
    status of a message is processed once, and a status never replaces a later one.
    """
    route, params = await _verified(request, number_field="From")
    report = _twilio.parse_status(params)
    await _account_matches(request, route, report.account_sid, params)
    context = Context(actor=f"sms:{route.number}", source=SOURCE)
    db = runtime_of(request).db
    try:
        await db.write(lambda uow: outbound.record_status(uow, route=route, report=report), context=context)
    except IntegrityError:
        await db.write(lambda uow: outbound.record_status(uow, route=route, report=report), context=context)
    return Response(status_code=204)
