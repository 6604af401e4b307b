"""``/v1/users`` and ``/v1/teams``: a tenant's people and teams.

Changes need the ``admin`` scope (an admin signed in, or a key with it). The user list is shown to keys
with ``read`` and to signed-in supervisors and admins (an agent gets 403 ``missing_role``); the team list
to anyone of the tenant.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cxstack.governance.staff import service
from cxstack.governance.staff.passwords import hash_password
from cxstack.governance.staff.schemas import (
    Role,
    TeamCreate,
    TeamMemberIn,
    TeamOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from cxstack.kit.pagination import PageOut
from cxstack.web.auth import Caller, admin_caller, caller, supervisor_caller
from cxstack.web.responses import read, write

router = APIRouter(prefix="/v1", tags=["staff"])
Admin = Annotated[Caller, Depends(admin_caller)]
Supervisor = Annotated[Caller, Depends(supervisor_caller)]
Who = Annotated[Caller, Depends(caller)]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.post("/users", status_code=201, response_model=UserOut)
async def create_user(request: Request, who: Admin, data: UserCreate) -> Response:
    """Add a user with a role, in teams, with an initial password or none (they then set one through a
    password reset). 409 for an email the tenant has; 422 naming the field for a bad email, role or
    password, or an unknown team. Nothing is written when anything is refused."""
    hashed = await asyncio.to_thread(hash_password, data.password) if data.password is not None else None
    return await write(
        request,
        who,
        lambda uow: service.create_user(
            uow,
            tenant_id=who.tenant_id,
            email=data.email,
            name=data.name,
            role=data.role,
            team_ids=data.team_ids,
            password=hashed,
        ),
        status=201,
    )


@router.get("/users", response_model=PageOut[UserOut])
async def list_users(
    request: Request,
    who: Supervisor,
    role: Role | None = None,
    team_id: Annotated[str | None, Query(description="Only members of this team.")] = None,
    disabled: Annotated[bool | None, Query(description="Only disabled users (true) or active ones.")] = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Response:
    """The tenant's users, oldest first, with their teams: never a password."""
    return await read(
        request,
        lambda session: service.list_users(
            session,
            tenant_id=who.tenant_id,
            role=role,
            team_id=team_id,
            disabled=disabled,
            cursor=cursor,
            limit=limit,
        ),
    )


@router.get("/users/{user_id}", response_model=UserOut)
async def get_user(request: Request, who: Supervisor, user_id: str) -> Response:
    """One user of the tenant."""
    return await read(
        request, lambda session: service.get_user(session, tenant_id=who.tenant_id, user_id=user_id)
    )


@router.patch("/users/{user_id}", response_model=UserOut)
async def update_user(request: Request, who: Admin, user_id: str, data: UserUpdate) -> Response:
    """Change a user's name, role or teams (``team_ids`` replaces them); 422 names a bad field."""
    return await write(
        request,
        who,
        lambda uow: service.update_user(
            uow,
            tenant_id=who.tenant_id,
            user_id=user_id,
            name=data.name,
            role=data.role,
            team_ids=data.team_ids,
        ),
    )


@router.post("/users/{user_id}/disable", response_model=UserOut)
async def disable_user(request: Request, who: Admin, user_id: str) -> Response:
    """Disable a user: their sessions end at once and they can no longer sign in."""
    return await write(
        request, who, lambda uow: service.disable_user(uow, tenant_id=who.tenant_id, user_id=user_id)
    )


@router.post("/teams", status_code=201, response_model=TeamOut)
async def create_team(request: Request, who: Admin, data: TeamCreate) -> Response:
    """Create a team; 409 for a name the tenant has."""
    return await write(
        request,
        who,
        lambda uow: service.create_team(uow, tenant_id=who.tenant_id, name=data.name),
        status=201,
    )


@router.get("/teams", response_model=PageOut[TeamOut])
async def list_teams(request: Request, who: Who, cursor: str | None = None, limit: Limit = 50) -> Response:
    """The tenant's teams with their members, oldest first."""
    return await read(
        request,
        lambda session: service.list_teams(session, tenant_id=who.tenant_id, cursor=cursor, limit=limit),
    )


@router.post("/teams/{team_id}/members", response_model=TeamOut)
async def add_team_member(request: Request, who: Admin, team_id: str, data: TeamMemberIn) -> Response:
    """Add a user to the team (a member already changes nothing)."""
    return await write(
        request,
        who,
        lambda uow: service.add_team_member(
            uow, tenant_id=who.tenant_id, team_id=team_id, user_id=data.user_id
        ),
    )


@router.delete("/teams/{team_id}/members/{user_id}", response_model=TeamOut)
async def remove_team_member(request: Request, who: Admin, team_id: str, user_id: str) -> Response:
    """Remove a user from the team; 404 for a user not in it."""
    return await write(
        request,
        who,
        lambda uow: service.remove_team_member(
            uow, tenant_id=who.tenant_id, team_id=team_id, user_id=user_id
        ),
    )
