"""``/v1/conversations``: conversations, their messages, closing and reopening.

A signed-in agent or supervisor sees the conversations their role and teams let them see
(``cxstack.governance.staff.visibility``); any other answers 404, as another tenant's does."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.kit.pagination import PageOut
from cxstack.records.conversations import service
from cxstack.records.conversations.schemas import (
    Channel,
    ConversationCreate,
    ConversationOut,
    ConversationUpdate,
    MessageCreate,
    MessageOut,
    Status,
)
from cxstack.web.auth import Caller, caller, runtime_of
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


@router.get("/conversations", response_model=PageOut[ConversationOut])
async def list_conversations(
    request: Request,
    who: Who,
    cursor: str | None = None,
    limit: Limit = 50,
    customer_id: str | None = None,
    status: Status | None = None,
    channel: Annotated[Channel | None, Query(description="The channel it is on now.")] = None,
    assignee: str | None = None,
    updated_after: Annotated[datetime | None, Query(description="ISO 8601; naive means UTC.")] = None,
    order: Literal["asc", "desc"] = "asc",
) -> Response:
    """List conversations in creation order (``order=desc``: newest first), one page at a time."""
    return await read(
        request,
        lambda session: service.list_conversations(
            session,
            tenant_id=who.tenant_id,
            cursor=cursor,
            limit=limit,
            customer_id=customer_id,
            status=status,
            channel=channel,
            assignee=assignee,
            updated_after=updated_after,
            newest_first=order == "desc",
            visibility=who.visibility(),
        ),
    )


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
