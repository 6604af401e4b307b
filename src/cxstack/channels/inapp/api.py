"""``/v1/channels/inapp/settings`` (tenant API key): the app key, identity secret and push URL.
``/v1/inapp/...``: the API a company's own app calls for its signed-in user (``X-App-Key``, ``X-User-Id``
and ``X-User-Hash`` = hex HMAC-SHA256 of the user id keyed with the identity secret). ``/ws/inapp``: the
live-chat socket, the webchat protocol with the app key as ``widget_key`` (user_id and user_hash required).
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, WebSocket
from starlette.responses import Response

from cxstack.backbone.errors import Forbidden, Unauthorized
from cxstack.backbone.unit_of_work import Context
from cxstack.channels.inapp import service
from cxstack.channels.inapp.schemas import AppMessageIn, AppMessages, DeviceIn
from cxstack.channels.webchat import service as chat
from cxstack.channels.webchat.api import chat_hub, file_store, settings_routes, upload_file
from cxstack.channels.webchat.schemas import UploadOut
from cxstack.channels.webchat.service import VisitorOut
from cxstack.channels.webchat.sockets import VisitorSocket, open_visitor
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import MessageCreate, MessageOut
from cxstack.web.auth import runtime_of
from cxstack.web.responses import json_body

router = APIRouter(prefix="/v1/channels/inapp", tags=["in-app"])
app_api = APIRouter(prefix="/v1/inapp", tags=["in-app (for your app)"])
sockets = APIRouter(tags=["in-app (for your app)"])
settings_routes(router, "inapp")
JSON = "application/json"


def _context(visitor: VisitorOut) -> Context:
    return Context(actor=f"inapp_visitor:{visitor.id}", source=chat.SOURCE)


async def app_user(request: Request) -> VisitorOut:
    """Return the signed-in app user of a request; raises Unauthorized, Forbidden (audited)."""
    key = request.headers.get("x-app-key")
    user_id = request.headers.get("x-user-id")
    presented = request.headers.get("x-user-hash")
    if not key or not user_id or not presented:
        raise Unauthorized("send X-App-Key, X-User-Id and X-User-Hash (hex HMAC-SHA256 of the user id)")
    if len(user_id) > 200:
        raise Forbidden("X-User-Id is at most 200 characters", field="X-User-Id")
    config = await chat_hub(request).config(key, "inapp")
    if config is None:
        raise Unauthorized("unknown app key", field="X-App-Key")
    runtime = runtime_of(request)
    if not chat.identity_verified(config, user_id=user_id, presented_hash=presented):
        await runtime.db.write(
            lambda uow: chat.record_rejected_identity(
                uow,
                config=config,
                user_id=user_id,
                visitor_id=None,
                reason="user_hash does not match user_id",
            ),
            context=Context(actor="inapp_visitor", source=chat.SOURCE),
        )
        raise chat.IdentityRejected("identity verification failed: X-User-Hash does not match X-User-Id")
    return await open_visitor(runtime.db, config=config, visitor_id=None, user_id=user_id)


@app_api.get("/messages", response_model=AppMessages)
async def list_messages(request: Request, after: str | None = Query(default=None, max_length=32)) -> Response:
    """The user's conversation and its messages after the message ``after`` (all when left out)."""
    visitor = await app_user(request)
    conversation_id = visitor.conversation_id
    messages: list[MessageOut] = []
    if conversation_id is not None:
        messages = await runtime_of(request).db.read(
            lambda session: chat.history(
                session, tenant_id=visitor.tenant_id, conversation_id=conversation_id, after=after
            )
        )
    body = AppMessages(conversation_id=conversation_id, data=messages)
    return Response(body.model_dump_json().encode(), media_type=JSON)


@app_api.post("/messages", status_code=201, response_model=MessageOut)
async def post_message(request: Request) -> Response:
    """Send the user's message: 201 when created, 200 with the first message when its client_id was seen."""
    visitor = await app_user(request)
    data = await json_body(request, AppMessageIn)
    runtime = runtime_of(request)
    config = await chat_hub(request).config(request.headers["x-app-key"], "inapp")
    assert config is not None
    for attachment in data.attachments:
        chat.check_attachment(file_store(request), attachment.url)
    if visitor.conversation_id is None:
        visitor = await runtime.db.write(
            lambda uow: chat.ensure_conversation(uow, config=config, visitor_id=visitor.id),
            context=_context(visitor),
        )
    assert visitor.conversation_id is not None
    message = MessageCreate(
        direction="inbound",
        body=data.body,
        attachments=data.attachments,
        client_id=data.client_id,
        channel="inapp",
    )
    posted: conversations.PostedMessage = await runtime.db.write_batched(
        conversations.post_messages,
        conversations.MessagePost(visitor.tenant_id, visitor.conversation_id, message),
        context=_context(visitor),
    )
    return Response(
        posted.message.model_dump_json().encode(), status_code=201 if posted.created else 200, media_type=JSON
    )


@app_api.post("/uploads", status_code=201, response_model=UploadOut)
async def upload(request: Request) -> Response:
    """Upload an attachment (multipart/form-data, part ``file``, at most 10 MiB)."""
    await app_user(request)
    uploaded = await upload_file(request, file_store(request))
    return Response(uploaded.model_dump_json().encode(), status_code=201, media_type=JSON)


@app_api.put("/devices", status_code=204)
async def register_device(request: Request, data: DeviceIn) -> Response:
    """Register a device's push token: replies are pushed to it while the user has no socket open."""
    visitor = await app_user(request)
    await runtime_of(request).db.write(
        lambda uow: service.register_device(uow, visitor=visitor, data=data), context=_context(visitor)
    )
    return Response(status_code=204)


@sockets.websocket("/ws/inapp")
async def app_socket(websocket: WebSocket) -> None:
    runtime = runtime_of(websocket)  # type: ignore[arg-type]  # a WebSocket carries the app as a Request does
    await VisitorSocket(
        websocket, channel="inapp", db=runtime.db, hub=chat_hub(websocket), store=file_store(websocket)
    ).run()
