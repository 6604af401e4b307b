"""``/v1/canned-responses``: the tenant's prepared replies (changes: a supervisor, an admin or a key) and
their rendering for a conversation."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cxstack.kit.pagination import PageOut
from cxstack.web.auth import Caller, caller, supervisor_caller
from cxstack.web.responses import read, write
from cxstack.workspace.canned import service
from cxstack.workspace.canned.schemas import (
    CannedResponseCreate,
    CannedResponseOut,
    CannedResponseUpdate,
    RenderedOut,
    RenderRequest,
)

router = APIRouter(prefix="/v1", tags=["canned responses"])
Who = Annotated[Caller, Depends(caller)]
Manager = Annotated[Caller, Depends(supervisor_caller)]


def seen_by_teams(who: Caller) -> Collection[str] | None:
    """The teams whose canned responses (beside the shared ones) an agent sees; None: all, for anyone
    else."""
    if who.user is not None and who.user.role == "agent":
        return who.user.team_ids
    return None


@router.post("/canned-responses", status_code=201, response_model=CannedResponseOut)
async def create_canned_response(request: Request, who: Manager, data: CannedResponseCreate) -> Response:
    """Create a canned response (a supervisor, an admin or a key); 422 names an unknown variable, 409 a
    shortcut already taken."""
    return await write(
        request,
        who,
        lambda uow: service.create_canned_response(uow, tenant_id=who.tenant_id, data=data),
        status=201,
    )


@router.get("/canned-responses", response_model=PageOut[CannedResponseOut])
async def list_canned_responses(
    request: Request,
    who: Who,
    q: Annotated[
        str | None, Query(max_length=200, description="Only those whose name or shortcut holds this.")
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """List the canned responses the caller sees (an agent: the shared ones and their teams'), oldest
    first."""
    return await read(
        request,
        lambda session: service.list_canned_responses(
            session,
            tenant_id=who.tenant_id,
            q=q.strip() if q else None,
            seen_by_teams=seen_by_teams(who),
            cursor=cursor,
            limit=limit,
        ),
    )


@router.get("/canned-responses/{canned_response_id}", response_model=CannedResponseOut)
async def get_canned_response(request: Request, who: Who, canned_response_id: str) -> Response:
    return await read(
        request,
        lambda session: service.get_canned_response(
            session, tenant_id=who.tenant_id, canned_id=canned_response_id, seen_by_teams=seen_by_teams(who)
        ),
    )


@router.patch("/canned-responses/{canned_response_id}", response_model=CannedResponseOut)
async def update_canned_response(
    request: Request, who: Manager, canned_response_id: str, data: CannedResponseUpdate
) -> Response:
    """Change the fields given (a supervisor, an admin or a key)."""
    return await write(
        request,
        who,
        lambda uow: service.update_canned_response(
            uow, tenant_id=who.tenant_id, canned_id=canned_response_id, data=data
        ),
    )


@router.delete("/canned-responses/{canned_response_id}", status_code=204)
async def delete_canned_response(request: Request, who: Manager, canned_response_id: str) -> Response:
    return await write(
        request,
        who,
        lambda uow: service.delete_canned_response(
            uow, tenant_id=who.tenant_id, canned_id=canned_response_id
        ),
        status=204,
    )


@router.post("/canned-responses/{canned_response_id}/render", response_model=RenderedOut)
async def render_canned_response(
    request: Request, who: Who, canned_response_id: str, data: RenderRequest
) -> Response:
    """The body with its variables filled from the conversation, its customer and the signed-in person
    (a key: ``agent.name`` is empty); ``missing`` lists the variables that had no value. Changes
    nothing."""
    return await read(
        request,
        lambda session: service.render_canned_response(
            session,
            tenant_id=who.tenant_id,
            canned_id=canned_response_id,
            conversation_id=data.conversation_id,
            user_id=who.user.user_id if who.user is not None else None,
            seen_by_teams=seen_by_teams(who),
            visibility=who.visibility(),
        ),
    )
