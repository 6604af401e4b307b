"""``/v1/channels/webchat/settings`` (tenant API key): the widget's settings. ``/widget/v1.js`` and
``/widget/v1/...``: the widget itself and its uploads (public widget key and visitor id), and the files of a
visitor's conversation (signed links, see ``attachments``); agents fetch the same files through the file
API (``/v1/files/{id}``), or by the old route ``/v1/channels/webchat/conversations/{id}/files/{key}``.
``/ws/webchat``: a visitor's socket; ``/ws/agent``: an agent's (tenant API key). The socket protocol is in
``protocol``."""

from __future__ import annotations

import asyncio
import html
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Depends, Query, Request, WebSocket
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartParser
from starlette.requests import HTTPConnection
from starlette.responses import Response

from cxstack.backbone.unit_of_work import Context
from cxstack.channels.webchat import attachments, service
from cxstack.channels.webchat.agent_socket import AgentSocket, CheckSession, SocketPerson
from cxstack.channels.webchat.hub import ChatHub
from cxstack.channels.webchat.protocol import message_json
from cxstack.channels.webchat.schemas import UploadOut, WebchatSettingsIn, WebchatSettingsOut
from cxstack.channels.webchat.service import LiveChannel, VisitorOut
from cxstack.channels.webchat.visitor_socket import VisitorSocket, open_visitor
from cxstack.kit.errors import DomainError, Forbidden, NotFound, Unauthorized, ValidationFailed
from cxstack.kit.files import FileStore
from cxstack.records.conversations import service as conversations
from cxstack.records.files import service as file_records
from cxstack.records.files.schemas import FileOut
from cxstack.web.auth import (
    SESSION_COOKIE,
    Caller,
    caller,
    config_caller,
    has_key,
    person_caller,
    runtime_of,
    tenant_key,
)
from cxstack.web.problems import problem
from cxstack.web.responses import read, write

router = APIRouter(prefix="/v1/channels/webchat", tags=["webchat"])
widget = APIRouter(tags=["webchat widget"])
Who = Annotated[Caller, Depends(caller)]
Configuring = Annotated[Caller, Depends(config_caller)]

#: The largest attachment a visitor may upload, in bytes.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
_STATIC = files("cxstack.channels.webchat") / "static"
_SCRIPT_HEADERS = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}
_CORS = {"Access-Control-Allow-Origin": "*"}


class AttachmentTooLarge(DomainError):
    status = 413
    code = "attachment_too_large"
    title = "Attachment too large"


def chat_hub(connection: HTTPConnection) -> ChatHub:
    """Return the process's hub of open chat sockets."""
    return runtime_of(connection).services.chat_hub


def file_store(connection: HTTPConnection) -> FileStore:
    return runtime_of(connection).services.files


# -- settings --------------------------------------------------------------------------------------


def settings_routes(api: APIRouter, channel: LiveChannel) -> None:
    """Add ``GET`` and ``PUT /settings`` of ``channel`` to ``api``."""

    @api.get("/settings", response_model=WebchatSettingsOut)
    async def get_settings(request: Request, who: Configuring) -> Response:
        """The tenant's settings, with its public key and its identity-verification secret."""
        return await read(
            request, lambda session: service.get_settings(session, tenant_id=who.tenant_id, channel=channel)
        )

    @api.put("/settings", response_model=WebchatSettingsOut)
    async def put_settings(request: Request, who: Configuring, data: WebchatSettingsIn) -> Response:
        """Create or change the settings (fields left out keep their value); honours Idempotency-Key."""
        response = await write(
            request,
            who,
            lambda uow: service.put_settings(uow, tenant_id=who.tenant_id, channel=channel, data=data),
        )
        chat_hub(request).forget_configs()
        return response


settings_routes(router, "webchat")


# -- the widget --------------------------------------------------------------------------------------


def _static(name: str, media_type: str) -> Response:
    return Response((_STATIC / name).read_bytes(), media_type=media_type, headers=_SCRIPT_HEADERS)


@widget.get("/widget/v1.js", include_in_schema=False)
async def widget_loader() -> Response:
    """The script tag's script: finds its own tag and loads the widget module beside it."""
    return _static("loader.js", "text/javascript")


@widget.get("/widget/v1/widget.js", include_in_schema=False)
async def widget_module() -> Response:
    return _static("widget.js", "text/javascript")


_PREVIEW_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Chat widget preview</title>
<style>
body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}}
</style>
</head>
<body>
<h1>Chat widget preview</h1>
<p>This page holds nothing but the widget, as the one script tag below puts it on any page. Open the chat
in the corner; agents see it arrive on <code>/ws/agent</code>.</p>
<pre>&lt;script src="{origin}/widget/v1.js" data-tenant="{key}" async&gt;&lt;/script&gt;</pre>
<script src="/widget/v1.js" data-tenant="{key}" async></script>
</body>
</html>
"""


@widget.get("/widget/v1/preview/{widget_key}", include_in_schema=False)
async def widget_preview(request: Request, widget_key: str) -> Response:
    """A page with nothing but a tenant's widget on it, to try the chat before putting it on a site."""
    config = await chat_hub(request).config(widget_key, "webchat")
    if config is None:
        raise NotFound(f"no webchat has the key {widget_key!r}", field="widget_key")
    origin = f"{request.url.scheme}://{request.url.netloc}"
    page = _PREVIEW_PAGE.format(origin=html.escape(origin), key=html.escape(widget_key))
    return Response(page, media_type="text/html")


async def visitor_of(
    connection: HTTPConnection,
    *,
    channel: LiveChannel,
    widget_key: str,
    visitor_id: str,
    first_write: bool = False,
) -> VisitorOut:
    """Return the visitor a public key and visitor id name; with ``first_write`` (the visitor is writing),
    an anonymous visitor the widget was welcomed as but not stored yet is stored now. Raises Forbidden."""
    config = await chat_hub(connection).config(widget_key, channel)
    if config is None:
        raise Forbidden(f"no {channel} has the key {widget_key!r}", field="widget_key")

    visitor: VisitorOut | None = await runtime_of(connection).db.read(
        lambda session: service.find_visitor(
            session, tenant_id=config.tenant_id, visitor_id=visitor_id, channel=channel
        )
    )
    if visitor is None and first_write:
        free = await runtime_of(connection).db.read(
            lambda session: service.visitor_id_free(
                session, tenant_id=config.tenant_id, channel=channel, visitor_id=visitor_id
            )
        )
        if free:
            visitor = await open_visitor(
                runtime_of(connection).db, config=config, visitor_id=visitor_id, user_id=None
            )
    if visitor is None:
        raise Forbidden("unknown visitor: open the chat first", field="visitor_id")
    return visitor


async def upload_file(request: Request, store: FileStore, *, visitor: VisitorOut) -> UploadOut:
    """Store the ``file`` part of a multipart upload as a file of the visitor's tenant (and conversation,
    once it has one); raises AttachmentTooLarge, ValidationFailed."""
    length = request.headers.get("content-length")
    limit_text = f"{MAX_UPLOAD_BYTES} bytes ({MAX_UPLOAD_BYTES // (1024 * 1024)} MiB)"
    if length is not None and length.isdigit() and int(length) > MAX_UPLOAD_BYTES + 64 * 1024:
        raise AttachmentTooLarge(
            f"the upload is {length} bytes; an attachment may be at most {limit_text}",
            field="file",
            limit=MAX_UPLOAD_BYTES,
        )
    received = bytearray()
    async for chunk in request.stream():
        received.extend(chunk)
        if len(received) > MAX_UPLOAD_BYTES + 64 * 1024:
            raise AttachmentTooLarge(
                f"an attachment may be at most {limit_text}", field="file", limit=MAX_UPLOAD_BYTES
            )

    async def body() -> Any:
        yield bytes(received)

    try:
        form = await MultiPartParser(request.headers, body(), max_files=1, max_fields=5).parse()
    except Exception as error:
        raise ValidationFailed(
            f"send the file as multipart/form-data in a part named file: {error}", field="file"
        ) from None
    part = form.get("file")
    if not isinstance(part, UploadFile):
        raise ValidationFailed("send the file as multipart/form-data in a part named file", field="file")
    data = await part.read()
    if len(data) > MAX_UPLOAD_BYTES:
        raise AttachmentTooLarge(
            f"the file is {len(data)} bytes; an attachment may be at most {limit_text}",
            field="file",
            limit=MAX_UPLOAD_BYTES,
        )
    if not data:
        raise ValidationFailed("the file is empty", field="file")
    stored = await asyncio.to_thread(store.put, data)
    new = file_records.NewFile(
        name=(part.filename or "file")[:255],
        content_type=(part.content_type or "application/octet-stream")[:100],
        stored=stored,
        source="upload",
        conversation_id=visitor.conversation_id,
    )
    [file] = await runtime_of(request).db.write(
        lambda uow: file_records.add_files(uow, tenant_id=visitor.tenant_id, files=[new]),
        context=Context(actor=f"{visitor.channel}_visitor:{visitor.id}", source=service.SOURCE),
    )
    return UploadOut(id=file.id, name=file.name, content_type=file.content_type, size=file.size, url=file.url)


def _problem(request: Request, error: DomainError) -> Response:
    return problem(
        error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        instance=request.url.path,
        headers=_CORS,
        field=error.field,
        **error.extra,
    )


@widget.post("/widget/v1/uploads", status_code=201, response_model=UploadOut)
async def upload(request: Request, widget_key: str = Query(), visitor_id: str = Query()) -> Response:
    """Upload an attachment (multipart/form-data, part ``file``, at most 10 MiB); reference the answer in
    a message's ``attachments``."""
    try:
        visitor = await visitor_of(
            request, channel="webchat", widget_key=widget_key, visitor_id=visitor_id, first_write=True
        )
        uploaded = await upload_file(request, file_store(request), visitor=visitor)
    except DomainError as error:
        return _problem(request, error)
    return Response(
        uploaded.model_dump_json().encode(), status_code=201, media_type="application/json", headers=_CORS
    )


@widget.get("/widget/v1/messages", include_in_schema=False)
async def visitor_messages(
    request: Request,
    widget_key: str = Query(),
    visitor_id: str = Query(),
    after: str | None = Query(default=None, max_length=32),
) -> Response:
    """The visitor's messages after the message ``after`` (with their attachments), as the socket's
    welcome carries them."""
    try:
        visitor = await visitor_of(request, channel="webchat", widget_key=widget_key, visitor_id=visitor_id)
    except DomainError as error:
        return _problem(request, error)
    conversation_id = visitor.conversation_id
    messages: list[dict[str, Any]] = []
    if conversation_id is not None:
        found = await runtime_of(request).db.read(
            lambda session: service.history(
                session, tenant_id=visitor.tenant_id, conversation_id=conversation_id, after=after
            )
        )
        config = await chat_hub(request).config(widget_key, "webchat")
        assert config is not None
        now = runtime_of(request).db.clock.now()
        base = attachments.public_base(request)
        messages = [
            attachments.with_download_urls(message_json(message), config=config, base=base, now=now)
            for message in found
        ]
    body = orjson.dumps({"conversation_id": conversation_id, "data": messages})
    return Response(body, media_type="application/json", headers=_CORS)


def _file_response(data: bytes, file: FileOut, *, headers: dict[str, str]) -> Response:
    # Served as a download, never rendered on cxstack's origin: a visitor's upload is not to be trusted.
    name = quote(file.name, safe="")
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            **headers,
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=300",
        },
    )


@widget.get("/widget/v1/files/{file_id}", include_in_schema=False)
async def download(
    request: Request,
    file_id: str,
    widget_key: str | None = Query(default=None, max_length=64),
    conversation_id: str | None = Query(default=None, max_length=32),
    expires: str | None = Query(default=None, max_length=20),
    token: str | None = Query(default=None, max_length=128),
) -> Response:
    """A file of a conversation, through the signed link its message's attachment carries
    (``download_url``); 403 for a link that is incomplete, wrong or expired, 404 for a file the
    conversation does not hold."""
    runtime = runtime_of(request)
    try:
        if not widget_key:
            raise attachments.FileLinkInvalid(
                "a file link carries widget_key, conversation_id, expires and token: use the download_url "
                "a message's attachment carries",
                field="widget_key",
            )
        channel: LiveChannel = "inapp" if widget_key.startswith(service.KEY_PREFIX["inapp"]) else "webchat"
        config = await chat_hub(request).config(widget_key, channel)
        if config is None:
            raise Forbidden(f"no {channel} has the key {widget_key!r}", field="widget_key")
        conversation = attachments.check_link(
            config,
            file_id=file_id,
            conversation_id=conversation_id,
            expires=expires,
            token=token,
            now=runtime.db.clock.now(),
        )
        file = await runtime.db.read(
            lambda session: file_records.conversation_file(
                session, tenant_id=config.tenant_id, conversation_id=conversation, ref=file_id
            )
        )
        data = await asyncio.to_thread(file_store(request).get, file.sha256)
    except DomainError as error:
        return _problem(request, error)
    return _file_response(data, file, headers=_CORS)


@router.get("/conversations/{conversation_id}/files/{key}")
async def agent_download(request: Request, who: Who, conversation_id: str, key: str) -> Response:
    """A file of the conversation by its id or its SHA-256 (hex); 404 when the conversation (of the
    caller's tenant) holds no such file, or the signed-in person does not see the conversation.
    ``/v1/files/{id}/content`` serves the same files."""
    visibility = who.visibility()
    if visibility is not None:
        await runtime_of(request).db.read(
            lambda session: conversations.require_seen(
                session, tenant_id=who.tenant_id, conversation_id=conversation_id, visibility=visibility
            )
        )
    file = await runtime_of(request).db.read(
        lambda session: file_records.conversation_file(
            session, tenant_id=who.tenant_id, conversation_id=conversation_id, ref=key
        )
    )
    data = await asyncio.to_thread(file_store(request).get, file.sha256)
    return _file_response(data, file, headers={})


# -- sockets ---------------------------------------------------------------------------------------


@widget.websocket("/ws/webchat")
async def visitor_socket(websocket: WebSocket) -> None:
    runtime = runtime_of(websocket)
    await VisitorSocket(
        websocket, channel="webchat", db=runtime.db, hub=chat_hub(websocket), store=file_store(websocket)
    ).run()


async def authenticate_key(connection: HTTPConnection, key: str) -> tuple[str, str]:
    """Return (tenant id, API key id) of a tenant API key with the read and write scopes; raises
    Unauthorized, Forbidden (a scope missing)."""
    holder = await tenant_key(connection, key, needed=("read", "write"))
    return holder.tenant_id, holder.api_key_id


def _bearer(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


@widget.websocket("/ws/agent")
async def agent_socket(websocket: WebSocket) -> None:
    """An agent's socket: opened with a tenant API key (every conversation's events), or, with no key, by
    a signed-in person's session cookie (the events of the conversations they see)."""
    runtime = runtime_of(websocket)
    session: CheckSession | None = None
    if not has_key(websocket) and SESSION_COOKIE in websocket.cookies:

        async def check_session() -> SocketPerson:
            who = await person_caller(websocket, method="GET", needed=("read", "write"))
            assert who.user is not None
            return SocketPerson(who.tenant_id, who.user.user_id, who.visibility())

        session = check_session

    async def check(key: str) -> tuple[str, str]:
        try:
            return await authenticate_key(websocket, key)
        except Unauthorized:
            raise
        except DomainError as error:
            raise Unauthorized(error.detail) from None

    await AgentSocket(
        websocket,
        db=runtime.db,
        hub=chat_hub(websocket),
        authenticate=check,
        header_key=_bearer(websocket),
        checks=runtime.services.delivery_checks,
        session=session,
    ).run()
