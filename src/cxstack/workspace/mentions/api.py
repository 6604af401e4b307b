"""``/v1/mentions``: the signed-in person's mentions in internal notes, and a check of a note's handles
before it is added."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cxstack.kit.pagination import PageOut
from cxstack.web.auth import Caller, caller, person_only
from cxstack.web.responses import read, write
from cxstack.workspace.mentions import service
from cxstack.workspace.mentions.schemas import MentionCheck, MentionCheckOut, MentionOut

router = APIRouter(prefix="/v1", tags=["mentions"])
Who = Annotated[Caller, Depends(caller)]
Person = Annotated[Caller, Depends(person_only)]


def _user_id(who: Caller) -> str:
    assert who.user is not None  # person_only lets only signed-in people through
    return who.user.user_id


@router.get("/mentions", response_model=PageOut[MentionOut])
async def list_mentions(
    request: Request,
    who: Person,
    unread: Annotated[
        bool | None, Query(description="true: only those not read yet; false: only those read.")
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """The signed-in person's mentions, newest first, of conversations they see (403 for a key)."""
    user_id = _user_id(who)
    return await read(
        request,
        lambda session: service.list_mentions(
            session,
            tenant_id=who.tenant_id,
            user_id=user_id,
            visibility=who.visibility(),
            unread=unread,
            cursor=cursor,
            limit=limit,
        ),
    )


@router.post("/mentions/{mention_id}/read", response_model=MentionOut)
async def mark_mention_read(request: Request, who: Person, mention_id: str) -> Response:
    """Mark one of the signed-in person's mentions read (someone else's: 404; a key: 403)."""
    user_id = _user_id(who)
    return await write(
        request,
        who,
        lambda uow: service.mark_read(uow, tenant_id=who.tenant_id, user_id=user_id, mention_id=mention_id),
    )


@router.post("/mentions/check", response_model=MentionCheckOut)
async def check_mentions(request: Request, who: Who, data: MentionCheck) -> Response:
    """Who a note with this text on the conversation would notify, and which handles nobody and why
    (unknown, disabled, not_in_sight, author, too_many); adds nothing. Handles are ``@[Name](usr_...)``
    and ``@`` followed by an email address."""
    author = who.context().actor
    return await read(
        request,
        lambda session: service.check_mentions(
            session,
            tenant_id=who.tenant_id,
            conversation_id=data.conversation_id,
            body=data.body,
            author=author,
            visibility=who.visibility(),
        ),
    )
