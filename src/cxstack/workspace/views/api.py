"""``/v1/views``: a signed-in person's saved inbox views (an API key: 403, views belong to people)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from cxstack.web.auth import Caller, Person, person_only
from cxstack.web.responses import read, write
from cxstack.workspace.views import service
from cxstack.workspace.views.schemas import ViewCreate, ViewListOut, ViewOut, ViewUpdate

router = APIRouter(prefix="/v1", tags=["views"])
Who = Annotated[Caller, Depends(person_only)]


def _person(who: Caller) -> Person:
    assert who.user is not None  # person_only lets only signed-in people through
    return who.user


@router.post("/views", status_code=201, response_model=ViewOut)
async def create_view(request: Request, who: Who, data: ViewCreate) -> Response:
    """Save a view: a name and the conversation list's filters; ``team_id`` shares it with a team of
    yours. 422 names a filter that is not one."""
    person = _person(who)
    return await write(
        request,
        who,
        lambda uow: service.create_view(
            uow,
            tenant_id=who.tenant_id,
            user_id=person.user_id,
            role=person.role,
            team_ids=person.team_ids,
            data=data,
        ),
        status=201,
    )


@router.get("/views", response_model=ViewListOut)
async def list_views(request: Request, who: Who) -> Response:
    """Your views by position, then those your teams' members shared with your teams."""
    person = _person(who)
    return await read(
        request,
        lambda session: service.list_views(
            session, tenant_id=who.tenant_id, user_id=person.user_id, team_ids=person.team_ids
        ),
    )


@router.get("/views/{view_id}", response_model=ViewOut)
async def get_view(request: Request, who: Who, view_id: str) -> Response:
    person = _person(who)
    return await read(
        request,
        lambda session: service.get_view(
            session,
            tenant_id=who.tenant_id,
            user_id=person.user_id,
            team_ids=person.team_ids,
            view_id=view_id,
        ),
    )


@router.patch("/views/{view_id}", response_model=ViewOut)
async def update_view(request: Request, who: Who, view_id: str, data: ViewUpdate) -> Response:
    """Change the fields given of a view of yours (one shared with you: 403, another's: 404)."""
    person = _person(who)
    return await write(
        request,
        who,
        lambda uow: service.update_view(
            uow,
            tenant_id=who.tenant_id,
            user_id=person.user_id,
            role=person.role,
            team_ids=person.team_ids,
            view_id=view_id,
            data=data,
        ),
    )


@router.delete("/views/{view_id}", status_code=204)
async def delete_view(request: Request, who: Who, view_id: str) -> Response:
    person = _person(who)
    return await write(
        request,
        who,
        lambda uow: service.delete_view(
            uow, tenant_id=who.tenant_id, user_id=person.user_id, team_ids=person.team_ids, view_id=view_id
        ),
        status=204,
    )
