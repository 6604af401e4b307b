"""``/v1/cases``: cases (tickets), their status, priority, assignee and due time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cxstack.kit.pagination import PageOut
from cxstack.records.cases import service
from cxstack.records.cases.schemas import CaseCreate, CaseOut, CasePriority, CaseStatus, CaseUpdate
from cxstack.records.conversations.api import require_seen
from cxstack.web.auth import Caller, caller, runtime_of
from cxstack.web.responses import read, write

router = APIRouter(prefix="/v1", tags=["cases"])
Who = Annotated[Caller, Depends(caller)]


async def _require_seen(request: Request, who: Caller, case_id: str) -> None:
    """Raises NotFound when the caller is a signed-in person who does not see the case."""
    visibility = who.visibility()
    if visibility is not None:
        await runtime_of(request).db.read(
            lambda session: service.get_case(
                session, tenant_id=who.tenant_id, case_id=case_id, visibility=visibility
            )
        )


@router.post("/cases", status_code=201, response_model=CaseOut)
async def create_case(request: Request, who: Who, data: CaseCreate) -> Response:
    """Open a case for a customer; 404 naming ``customer_id`` or ``conversation_id`` when one is unknown."""
    if data.conversation_id is not None:
        await require_seen(request, who, data.conversation_id)
    return await write(
        request,
        who,
        lambda uow: service.create_case(uow, tenant_id=who.tenant_id, data=data),
        status=201,
    )


@router.get("/cases", response_model=PageOut[CaseOut])
async def list_cases(
    request: Request,
    who: Who,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    status: CaseStatus | None = None,
    priority: CasePriority | None = None,
    customer_id: str | None = None,
    assignee: str | None = None,
    tag: str | None = None,
    overdue: Annotated[
        bool | None, Query(description="true: due before now and not solved or closed; false: the rest.")
    ] = None,
) -> Response:
    """List cases, oldest first, one page at a time (``next_cursor`` fetches the next)."""
    now = runtime_of(request).clock.now()
    return await read(
        request,
        lambda session: service.list_cases(
            session,
            tenant_id=who.tenant_id,
            now=now,
            cursor=cursor,
            limit=limit,
            status=status,
            priority=priority,
            customer_id=customer_id,
            assignee=assignee,
            tag=tag,
            overdue=overdue,
            visibility=who.visibility(),
        ),
    )


@router.get("/cases/{case_id}", response_model=CaseOut)
async def get_case(request: Request, who: Who, case_id: str) -> Response:
    return await read(
        request,
        lambda session: service.get_case(
            session, tenant_id=who.tenant_id, case_id=case_id, visibility=who.visibility()
        ),
    )


@router.patch("/cases/{case_id}", response_model=CaseOut)
async def update_case(request: Request, who: Who, case_id: str, data: CaseUpdate) -> Response:
    """Change the fields given; a status move the state machine refuses answers 409 naming both statuses."""
    await _require_seen(request, who, case_id)
    if data.conversation_id is not None:
        await require_seen(request, who, data.conversation_id)
    return await write(
        request,
        who,
        lambda uow: service.update_case(uow, tenant_id=who.tenant_id, case_id=case_id, data=data),
    )


@router.post("/cases/{case_id}/reopen", response_model=CaseOut)
async def reopen_case(request: Request, who: Who, case_id: str) -> Response:
    """Move a solved or closed case back to open."""
    await _require_seen(request, who, case_id)
    return await write(
        request,
        who,
        lambda uow: service.reopen_case(uow, tenant_id=who.tenant_id, case_id=case_id),
    )
