"""``/v1/events`` and ``/v1/dead-letters``: a tenant's view of its event log and failed deliveries.

The backbone's own router: its queries live in ``cxstack.backbone.inspection``, the audited retry in
``cxstack.governance.operations``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cxstack.backbone import inspection
from cxstack.backbone.inspection import CloudEventOut, DeadLetterDetail, DeadLetterOut, RetryOutcome
from cxstack.governance.operations import service
from cxstack.kit.pagination import PageOut
from cxstack.web.auth import Caller, caller, runtime_of
from cxstack.web.responses import read, write

router = APIRouter(prefix="/v1", tags=["events"])
Who = Annotated[Caller, Depends(caller)]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/events", response_model=PageOut[CloudEventOut])
async def list_events(
    request: Request,
    who: Who,
    types: Annotated[
        list[str] | None, Query(alias="type", description="Only events of these types (repeatable).")
    ] = None,
    subject: Annotated[str | None, Query(description="Only events about this subject.")] = None,
    after: Annotated[
        int | None,
        Query(ge=0, description="Only events after this sequence number, oldest first (to follow the log)."),
    ] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of a previous page.")] = None,
    limit: Limit = 50,
) -> Response:
    """The tenant's events as CloudEvents: newest first, or oldest first after the seq given in ``after``.

    Each event's ``sequence`` is its position in the log; pass the last one seen as ``after`` to poll
    for new events.
    """
    return await read(
        request,
        lambda session: inspection.events_page(
            session,
            tenant_id=who.tenant_id,
            types=types,
            subject=subject,
            after=after,
            cursor=cursor,
            limit=limit,
        ),
    )


@router.get("/dead-letters", response_model=PageOut[DeadLetterOut])
async def list_dead_letters(
    request: Request,
    who: Who,
    subscription: Annotated[str | None, Query(description="Only this subscription's.")] = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Response:
    """The tenant's dead letters (deliveries that failed every attempt), oldest first."""
    return await read(
        request,
        lambda session: inspection.list_dead_letters(
            session, tenant_id=who.tenant_id, subscription=subscription, cursor=cursor, limit=limit
        ),
    )


@router.get("/dead-letters/{dead_letter_id}", response_model=DeadLetterDetail)
async def get_dead_letter(request: Request, who: Who, dead_letter_id: int) -> Response:
    """A dead letter with its event and the traceback of its last attempt."""
    return await read(
        request,
        lambda session: inspection.get_dead_letter(
            session, tenant_id=who.tenant_id, dead_letter_id=dead_letter_id
        ),
    )


@router.post("/dead-letters/{dead_letter_id}/retry", response_model=RetryOutcome)
async def retry_dead_letter(request: Request, who: Who, dead_letter_id: int) -> Response:
    """Run the dead letter's handler once more now.

    ``succeeded`` says whether it worked (the dead letter is then gone); a failure keeps it with the new
    ``error``. Either way the retry is audited.
    """
    runtime = runtime_of(request)
    return await write(
        request,
        who,
        lambda uow: service.retry_dead_letter(
            uow,
            registry=runtime.subscriptions,
            policy=runtime.retry_policy,
            tenant_id=who.tenant_id,
            dead_letter_id=dead_letter_id,
        ),
    )
