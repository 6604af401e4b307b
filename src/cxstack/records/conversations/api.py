"""``/v1/conversations``: conversations, their messages, closing and reopening.

A signed-in agent or supervisor sees the conversations their role and teams let them see
(``cxstack.governance.staff.visibility``); any other answers 404, as another tenant's does."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.kit.errors import ValidationFailed
from cxstack.kit.pagination import Page, PageOut
from cxstack.records.conversations import inbox, service
from cxstack.records.conversations.schemas import (
    Channel,
    ConversationCountsOut,
    ConversationCreate,
    ConversationOut,
    ConversationUpdate,
    MessageCreate,
    MessageOut,
    Priority,
    Status,
)
from cxstack.web.auth import Caller, Person, caller, runtime_of
from cxstack.web.direct import direct
from cxstack.web.responses import (
    JSON,
    body_schema,
    json_body,
    read,
    read_prepared,
    write,
    write_together,
)

router = APIRouter(prefix="/v1", tags=["conversations"])
Who = Annotated[Caller, Depends(caller)]
Limit = Annotated[int, Query(ge=1, le=200)]


async def require_seen(request: Request, who: Caller, conversation_id: str) -> None:
    """Raises NotFound when the caller is a signed-in person who does not see the conversation (a key or
    an admin: nothing is read here; the operation finds a missing conversation itself)."""
    visibility = who.visibility()
    if visibility is not None:
        await runtime_of(request).db.read(
            lambda session: service.require_seen(
                session, tenant_id=who.tenant_id, conversation_id=conversation_id, visibility=visibility
            )
        )


@router.post("/conversations", status_code=201, response_model=ConversationOut)
@direct(ConversationCreate)
async def create_conversation(request: Request, who: Who, data: ConversationCreate) -> Response:
    """Start a conversation with a customer on a channel."""
    return await write_together(
        request,
        who,
        service.create_conversations,
        service.ConversationCreation(who.tenant_id, data),
        lambda uow: service.create_conversation(uow, tenant_id=who.tenant_id, data=data),
        status=201,
    )


def _person(who: Caller, parameter: str, value: str) -> Person:
    """The signed-in person ``parameter=value`` names; raises ValidationFailed for an API key."""
    if who.user is None:
        raise ValidationFailed(
            f"{parameter}={value} means the signed-in person's; an API key is no person: "
            "name a user or team by id",
            field=parameter,
        )
    return who.user


def _assignment(who: Caller, assignee: str | None, team: str | None) -> dict[str, Any]:
    """The ``InboxFilter`` fields of ``assignee`` (a user id, ``me`` or ``none``) and ``team`` (a team id
    or ``mine``)."""
    fields: dict[str, Any] = {}
    if assignee == "me":
        fields["assignee"] = _person(who, "assignee", assignee).user_id
    elif assignee == "none":
        fields["unassigned"] = True
    elif assignee is not None:
        fields["assignee"] = assignee
    if team == "mine":
        fields["team_ids"] = tuple(_person(who, "team", team).team_ids)
    elif team is not None:
        fields["team_ids"] = (team,)
    return fields


Statuses = Annotated[list[Status] | None, Query(description="Any of these statuses (repeat the parameter).")]
Channels = Annotated[
    list[Channel] | None, Query(description="On any of these channels now (repeat the parameter).")
]
Priorities = Annotated[
    list[Priority] | None, Query(description="Any of these priorities (repeat the parameter).")
]
Tag = Annotated[str | None, Query(description="Carrying this tag.")]
QueueId = Annotated[str | None, Query(description="Routed to this queue.")]
Search = Annotated[
    str | None,
    Query(
        description="Search: a customer's name (part of it), email or phone (the whole of it), or part of "
        "the subject or of a message's text; case-insensitive, % and _ match themselves."
    ),
]


@router.get("/conversations", response_model=PageOut[ConversationOut])
async def list_conversations(
    request: Request,
    who: Who,
    cursor: str | None = None,
    limit: Limit = 50,
    customer_id: str | None = None,
    status: Statuses = None,
    channel: Channels = None,
    priority: Priorities = None,
    assignee: Annotated[
        str | None, Query(description="A user id, ``me`` (the signed-in person) or ``none`` (unassigned).")
    ] = None,
    team: Annotated[
        str | None, Query(description="A team id, or ``mine``: any of the signed-in person's teams.")
    ] = None,
    tag: Tag = None,
    queue_id: QueueId = None,
    q: Search = None,
    updated_after: Annotated[datetime | None, Query(description="ISO 8601; naive means UTC.")] = None,
    sort: Annotated[
        inbox.Sort, Query(description="``created`` (creation order) or ``updated`` (last change).")
    ] = "created",
    order: Literal["asc", "desc"] = "asc",
) -> Response:
    """List the conversations the caller sees, one page at a time, in creation order or (``sort=updated``)
    by their last change, oldest first (``order=desc``: newest first). Every filter given must hold;
    ``assignee=me`` and ``team=mine`` need a signed-in person (422 for an API key)."""
    fields = _assignment(who, assignee, team)
    visibility = who.visibility()

    def listed(session: Session) -> Page[ConversationOut]:
        wanted = service.inbox_filter(
            session,
            tenant_id=who.tenant_id,
            q=q,
            customer_id=customer_id,
            statuses=tuple(status or ()),
            channels=tuple(channel or ()),
            priorities=tuple(priority or ()),
            tag=tag,
            queue_id=queue_id,
            updated_after=updated_after,
            **fields,
        )
        return service.list_inbox(
            session,
            tenant_id=who.tenant_id,
            wanted=wanted,
            cursor=cursor,
            limit=limit,
            sort=sort,
            newest_first=order == "desc",
            visibility=visibility,
        )

    return await read(request, listed)


@router.get("/conversations/counts", response_model=ConversationCountsOut)
async def count_conversations(
    request: Request,
    who: Who,
    channel: Channels = None,
    priority: Priorities = None,
    tag: Tag = None,
    queue_id: QueueId = None,
    q: Search = None,
) -> Response:
    """How many open or pending conversations the caller sees in each inbox section: all of them,
    ``unassigned``, ``mine`` (assigned to the signed-in person) and ``my_teams`` (their teams' work; both
    null for an API key), and by status; the filters given narrow every count."""
    person = who.user

    def counted(session: Session) -> ConversationCountsOut:
        wanted = service.inbox_filter(
            session,
            tenant_id=who.tenant_id,
            q=q,
            channels=tuple(channel or ()),
            priorities=tuple(priority or ()),
            tag=tag,
            queue_id=queue_id,
        )
        found = service.count_inbox(
            session,
            tenant_id=who.tenant_id,
            wanted=wanted,
            visibility=who.visibility(),
            user_id=person.user_id if person is not None else None,
            team_ids=person.team_ids if person is not None else (),
        )
        return ConversationCountsOut(
            all_open=found.all_open,
            unassigned=found.unassigned,
            mine=found.mine,
            my_teams=found.my_teams,
            by_status=found.by_status,
        )

    return await read(request, counted)


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
async def get_conversation(request: Request, who: Who, conversation_id: str) -> Response:
    return await read_prepared(
        request,
        lambda rows: service.read_conversation(
            rows, tenant_id=who.tenant_id, conversation_id=conversation_id, visibility=who.visibility()
        ),
    )


@router.patch("/conversations/{conversation_id}", response_model=ConversationOut)
async def update_conversation(
    request: Request, who: Who, conversation_id: str, data: ConversationUpdate
) -> Response:
    """Change the fields given: a new channel moves it, ``status`` closes or reopens it."""
    await require_seen(request, who, conversation_id)
    return await write(
        request,
        who,
        lambda uow: service.update_conversation(
            uow, tenant_id=who.tenant_id, conversation_id=conversation_id, data=data
        ),
    )


@router.post("/conversations/{conversation_id}/close", response_model=ConversationOut)
async def close_conversation(request: Request, who: Who, conversation_id: str) -> Response:
    await require_seen(request, who, conversation_id)
    return await write(
        request,
        who,
        lambda uow: service.close_conversation(uow, tenant_id=who.tenant_id, conversation_id=conversation_id),
    )


@router.post("/conversations/{conversation_id}/reopen", response_model=ConversationOut)
async def reopen_conversation(request: Request, who: Who, conversation_id: str) -> Response:
    await require_seen(request, who, conversation_id)
    return await write(
        request,
        who,
        lambda uow: service.reopen_conversation(
            uow, tenant_id=who.tenant_id, conversation_id=conversation_id
        ),
    )


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    response_model=MessageOut,
    responses={200: {"description": "A message with this client_id was posted before; it is returned."}},
    openapi_extra=body_schema(MessageCreate),
)
async def post_message(request: Request, who: Who, conversation_id: str) -> Response:
    """Add a message: 201 when created, 200 with the first message when its ``client_id`` was seen."""
    # The busiest route there is: its body is parsed in one pass, and the message written together with
    # those other callers post meanwhile.
    data = await json_body(request, MessageCreate)
    await require_seen(request, who, conversation_id)
    checks = runtime_of(request).services.delivery_checks
    post = service.MessagePost(who.tenant_id, conversation_id, data, checks)
    if "idempotency-key" not in request.headers:
        posted: service.PostedMessage = await runtime_of(request).db.write_batched(
            service.post_messages, post, context=who.context()
        )
        return Response(
            posted.message.model_dump_json().encode(),
            status_code=201 if posted.created else 200,
            media_type=JSON,
        )
    replayed = False

    def post_alone(uow: UnitOfWork) -> MessageOut:
        nonlocal replayed
        posted = service.post_message(
            uow, tenant_id=who.tenant_id, conversation_id=conversation_id, data=data, checks=checks
        )
        replayed = not posted.created
        return posted.message

    response = await write(request, who, post_alone, status=201)
    if replayed:
        response.status_code = 200
    return response


@router.get("/conversations/{conversation_id}/messages", response_model=PageOut[MessageOut])
async def list_messages(
    request: Request, who: Who, conversation_id: str, cursor: str | None = None, limit: Limit = 50
) -> Response:
    """List a conversation's messages, oldest first, one page at a time."""
    return await read(
        request,
        lambda session: service.list_messages(
            session,
            tenant_id=who.tenant_id,
            conversation_id=conversation_id,
            cursor=cursor,
            limit=limit,
            visibility=who.visibility(),
        ),
    )
