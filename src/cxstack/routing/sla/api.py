"""``/v1/sla/calendars``, ``/v1/sla/policies`` (changes need the ``admin`` scope) and
``/v1/conversations/{id}/sla``: a conversation's SLA clocks; ``/v1/sla/at-risk``: the clocks about to
breach or breached, of the conversations the caller sees."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from cxstack.kit.pagination import PageOut
from cxstack.records.conversations import service as conversations
from cxstack.routing.sla import clocks, service
from cxstack.routing.sla.schemas import (
    MAX_TARGET_SECONDS,
    AtRiskPageOut,
    CalendarCreate,
    CalendarOut,
    CalendarUpdate,
    ConversationSlaOut,
    PolicyCreate,
    PolicyOut,
    PolicyUpdate,
)
from cxstack.web.auth import Caller, admin_caller, caller, runtime_of
from cxstack.web.responses import read, write

router = APIRouter(prefix="/v1", tags=["sla"])
Who = Annotated[Caller, Depends(caller)]
Admin = Annotated[Caller, Depends(admin_caller)]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.post("/sla/calendars", status_code=201, response_model=CalendarOut)
async def create_calendar(request: Request, who: Admin, data: CalendarCreate) -> Response:
    """Create a business calendar: a time zone, weekly working hours and holidays."""
    return await write(
        request, who, lambda uow: service.create_calendar(uow, tenant_id=who.tenant_id, data=data), status=201
    )


@router.get("/sla/calendars", response_model=PageOut[CalendarOut])
async def list_calendars(
    request: Request, who: Who, cursor: str | None = None, limit: Limit = 50
) -> Response:
    """List the tenant's business calendars, oldest first."""
    return await read(
        request,
        lambda session: service.list_calendars(session, tenant_id=who.tenant_id, cursor=cursor, limit=limit),
    )


@router.get("/sla/calendars/{calendar_id}", response_model=CalendarOut)
async def get_calendar(request: Request, who: Who, calendar_id: str) -> Response:
    return await read(
        request,
        lambda session: service.get_calendar(session, tenant_id=who.tenant_id, calendar_id=calendar_id),
    )


@router.patch("/sla/calendars/{calendar_id}", response_model=CalendarOut)
async def update_calendar(request: Request, who: Admin, calendar_id: str, data: CalendarUpdate) -> Response:
    """Change the fields given; clocks already running keep the calendar they started with."""
    return await write(
        request,
        who,
        lambda uow: service.update_calendar(uow, tenant_id=who.tenant_id, calendar_id=calendar_id, data=data),
    )


@router.delete("/sla/calendars/{calendar_id}", status_code=204)
async def delete_calendar(request: Request, who: Admin, calendar_id: str) -> Response:
    """Delete a calendar no policy uses (409 while one does)."""
    return await write(
        request,
        who,
        lambda uow: service.delete_calendar(uow, tenant_id=who.tenant_id, calendar_id=calendar_id),
        status=204,
    )


@router.post("/sla/policies", status_code=201, response_model=PolicyOut)
async def create_policy(request: Request, who: Admin, data: PolicyCreate) -> Response:
    """Create an SLA policy: conditions, targets in business seconds, and a calendar (none: 24/7)."""
    return await write(
        request, who, lambda uow: service.create_policy(uow, tenant_id=who.tenant_id, data=data), status=201
    )


@router.get("/sla/policies", response_model=PageOut[PolicyOut])
async def list_policies(request: Request, who: Who, cursor: str | None = None, limit: Limit = 50) -> Response:
    """List the tenant's SLA policies, oldest first."""
    return await read(
        request,
        lambda session: service.list_policies(session, tenant_id=who.tenant_id, cursor=cursor, limit=limit),
    )


@router.get("/sla/policies/{policy_id}", response_model=PolicyOut)
async def get_policy(request: Request, who: Who, policy_id: str) -> Response:
    return await read(
        request, lambda session: service.get_policy(session, tenant_id=who.tenant_id, policy_id=policy_id)
    )


@router.patch("/sla/policies/{policy_id}", response_model=PolicyOut)
async def update_policy(request: Request, who: Admin, policy_id: str, data: PolicyUpdate) -> Response:
    """Replace the fields given (null clears one); clocks already running keep their targets."""
    return await write(
        request,
        who,
        lambda uow: service.update_policy(uow, tenant_id=who.tenant_id, policy_id=policy_id, data=data),
    )


@router.delete("/sla/policies/{policy_id}", status_code=204)
async def delete_policy(request: Request, who: Admin, policy_id: str) -> Response:
    """Delete a policy; clocks already running under it run on to their end."""
    return await write(
        request,
        who,
        lambda uow: service.delete_policy(uow, tenant_id=who.tenant_id, policy_id=policy_id),
        status=204,
    )


@router.get("/conversations/{conversation_id}/sla", response_model=ConversationSlaOut)
async def conversation_sla(request: Request, who: Who, conversation_id: str) -> Response:
    """The SLA clocks of a conversation: state, due time and business seconds left; 404 for a conversation
    the signed-in person does not see."""
    now = runtime_of(request).clock.now()
    visibility = who.visibility()

    def sla_of(session: Session) -> ConversationSlaOut:
        if visibility is not None:
            conversations.require_seen(
                session, tenant_id=who.tenant_id, conversation_id=conversation_id, visibility=visibility
            )
        return clocks.conversation_sla(
            session, tenant_id=who.tenant_id, conversation_id=conversation_id, now=now
        )

    return await read(request, sla_of)


@router.get("/sla/at-risk", response_model=AtRiskPageOut)
async def sla_at_risk(
    request: Request,
    who: Who,
    cursor: str | None = None,
    limit: Limit = 50,
    within_seconds: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_TARGET_SECONDS,
            description="Running clocks due within this many seconds; by default those that have warned.",
        ),
    ] = None,
) -> Response:
    """The SLA clocks at risk of the conversations the caller sees, soonest due first, with their
    ``total``: running clocks that have warned (``warn_before_seconds`` of business time left) or, with
    ``within_seconds``, that fall due within it; running clocks overdue; and breached clocks, while their
    conversation is not closed."""
    now = runtime_of(request).clock.now()
    visibility = who.visibility()
    return await read(
        request,
        lambda session: clocks.at_risk(
            session,
            tenant_id=who.tenant_id,
            now=now,
            within_seconds=within_seconds,
            visibility=visibility,
            cursor=cursor,
            limit=limit,
        ),
    )
