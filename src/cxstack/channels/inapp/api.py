"""``/v1/channels/inapp/settings`` (tenant API key): the app key, identity secret and push URL;
``/v1/channels/inapp/push``: the tenant's FCM and APNs credentials (secrets never returned).
``/v1/inapp/...``: the API a company's own app calls for its signed-in user (``X-App-Key``, ``X-User-Id``
and ``X-User-Hash`` = hex HMAC-SHA256 of the user id keyed with the identity secret). ``/ws/inapp``: the
live-chat socket, the webchat protocol with the app key as ``widget_key`` (user_id and user_hash required).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, WebSocket
from starlette.responses import Response

from cxstack.backbone.unit_of_work import Context
from cxstack.channels.inapp import service
from cxstack.channels.inapp.schemas import (
    AppDevices,
    AppMessageIn,
    AppMessages,
    DeviceIn,
    PushSettingsIn,
    PushSettingsOut,
)
from cxstack.channels.webchat import attachments
from cxstack.channels.webchat import service as chat
from cxstack.channels.webchat.api import chat_hub, file_store, settings_routes, upload_file
from cxstack.channels.webchat.schemas import UploadOut
from cxstack.channels.webchat.service import VisitorOut, WidgetConfig
from cxstack.channels.webchat.visitor_socket import VisitorSocket, open_visitor
from cxstack.kit.errors import Forbidden, Unauthorized
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import MessageCreate, MessageOut
from cxstack.web.auth import Caller, caller, config_caller, runtime_of
from cxstack.web.responses import json_body, read, write

router = APIRouter(prefix="/v1/channels/inapp", tags=["in-app"])
app_api = APIRouter(prefix="/v1/inapp", tags=["in-app (for your app)"])
sockets = APIRouter(tags=["in-app (for your app)"])
settings_routes(router, "inapp")
JSON = "application/json"
Who = Annotated[Caller, Depends(caller)]
Configuring = Annotated[Caller, Depends(config_caller)]


@router.get("/push", response_model=PushSettingsOut)
async def get_push_settings(request: Request, who: Who) -> Response:
    """The tenant's push credentials: FCM's project and APNs' key id, team and topic; secrets masked."""
    return await read(request, lambda session: service.get_push_settings(session, tenant_id=who.tenant_id))


@router.put("/push", response_model=PushSettingsOut)
async def put_push_settings(request: Request, who: Configuring, data: PushSettingsIn) -> Response:
    """Set the tenant's FCM service account and APNs signing key (fields left out keep their value, null
    removes one): replies are then pushed to Android and web devices through FCM, to iOS devices through
    APNs. 422 names the field of a service account or key that does not parse."""
    token_url = runtime_of(request).settings.inapp.fcm_token_url
    return await write(
        request,
        who,
        lambda uow: service.put_push_settings(uow, tenant_id=who.tenant_id, data=data, token_url=token_url),
    )


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
    """The user's conversation and its messages after the message ``after`` (all when left out); each stored
    attachment carries a signed ``download_url`` (good for 12 hours)."""
    visitor = await app_user(request)
    conversation_id = visitor.conversation_id
    messages: list[MessageOut] = []
    if conversation_id is not None:
        messages = await runtime_of(request).db.read(
            lambda session: chat.history(
                session, tenant_id=visitor.tenant_id, conversation_id=conversation_id, after=after
            )
        )
    config = await _app_config(request)
    linked = [_with_links(request, config, message) for message in messages]
    return Response(orjson.dumps({"conversation_id": conversation_id, "data": linked}), media_type=JSON)


async def _app_config(request: Request) -> WidgetConfig:
    config = await chat_hub(request).config(request.headers["x-app-key"], "inapp")
    assert config is not None  # the app user was verified with it
    return config


def _with_links(request: Request, config: WidgetConfig, message: MessageOut) -> dict[str, Any]:
    """The message as the app API shows it: each stored attachment with a signed ``download_url``."""
    return attachments.with_download_urls(
        message.model_dump(mode="json"),
        config=config,
        base=attachments.public_base(request),
        now=runtime_of(request).db.clock.now(),
    )


@app_api.post("/messages", status_code=201, response_model=MessageOut)
async def post_message(request: Request) -> Response:
    """Send the user's message: 201 when created, 200 with the first message when its client_id was seen
    (attachments with their ``download_url``)."""
    visitor = await app_user(request)
    data = await json_body(request, AppMessageIn)
    runtime = runtime_of(request)
    config = await _app_config(request)
    if data.attachments:
        await runtime.db.read(
            lambda session: chat.check_attachments(
                session,
                tenant_id=visitor.tenant_id,
                conversation_id=visitor.conversation_id,
                attachments=data.attachments,
            )
        )
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
        orjson.dumps(_with_links(request, config, posted.message)),
        status_code=201 if posted.created else 200,
        media_type=JSON,
    )


@app_api.post("/uploads", status_code=201, response_model=UploadOut)
async def upload(request: Request) -> Response:
    """Upload an attachment (multipart/form-data, part ``file``, at most 10 MiB)."""
    visitor = await app_user(request)
    uploaded = await upload_file(request, file_store(request), visitor=visitor)
    return Response(uploaded.model_dump_json().encode(), status_code=201, media_type=JSON)


@app_api.put("/devices", status_code=204)
async def register_device(request: Request, data: DeviceIn) -> Response:
    """Register a device's push token (again: no change): replies are pushed to it while the user has no
    socket open."""
    visitor = await app_user(request)
    await runtime_of(request).db.write(
        lambda uow: service.register_device(uow, visitor=visitor, data=data), context=_context(visitor)
    )
    return Response(status_code=204)


@app_api.get("/devices", response_model=AppDevices)
async def list_devices(request: Request) -> Response:
    """The user's registered devices, oldest first."""
    visitor = await app_user(request)
    devices = await runtime_of(request).db.read(
        lambda session: service.list_devices(session, visitor=visitor)
    )
    return Response(devices.model_dump_json().encode(), media_type=JSON)


@app_api.delete("/devices/{token}", status_code=204)
async def unregister_device(request: Request, token: Annotated[str, Path(max_length=512)]) -> Response:
    """Unregister the user's device with ``token`` (204 also when it was not registered)."""
    visitor = await app_user(request)
    await runtime_of(request).db.write(
        lambda uow: service.unregister_device(uow, visitor=visitor, token=token), context=_context(visitor)
    )
    return Response(status_code=204)


@sockets.websocket("/ws/inapp")
async def app_socket(websocket: WebSocket) -> None:
    runtime = runtime_of(websocket)
    await VisitorSocket(
        websocket, channel="inapp", db=runtime.db, hub=chat_hub(websocket), store=file_store(websocket)
    ).run()
