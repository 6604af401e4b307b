"""The live-chat sockets: a visitor's (webchat widget or in-app) and an agent's, speaking ``protocol``.

Every frame a socket sends goes through its outbox, written by one task, so that frames keep their order
and a slow client never holds up the hub; a client that lets ``OUTBOX_LIMIT`` frames pile up is closed
(1008) and resumes when it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import orjson
import structlog
from sqlalchemy.exc import IntegrityError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from cxstack.backbone.database import Database
from cxstack.backbone.envelope import Event
from cxstack.backbone.errors import Conflict, DomainError
from cxstack.backbone.files import FileStore
from cxstack.backbone.unit_of_work import Context
from cxstack.channels.webchat import service
from cxstack.channels.webchat.hub import ChatHub
from cxstack.channels.webchat.protocol import (
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED,
    MAX_FRAME_BYTES,
    Auth,
    ClientFrame,
    Contact,
    FrameRefused,
    Hello,
    Ping,
    Receipt,
    Send,
    Typing,
    error_frame,
    message_from_event,
    message_json,
    parse_frame,
)
from cxstack.channels.webchat.service import LiveChannel, ReceiptPost, VisitorOut, WidgetConfig
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import MessageCreate

log = structlog.get_logger("cxstack.webchat")

OUTBOX_LIMIT = 5000
#: Client ids of a visitor's own messages remembered, so that the feed does not echo them back.
OWN_CLIENT_IDS = 256
_CLOSE = object()


class _Closing(Exception):
    """The socket is done: the client went away or was told to."""


class Outbox:
    """Frames waiting to go out on one socket, sent in order by one task."""

    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._pump())
        self.closed = False

    def send(self, frame: bytes | dict[str, Any]) -> None:
        if self.closed:
            return
        if self._queue.qsize() >= OUTBOX_LIMIT:
            self.close(CLOSE_POLICY, "client too slow: reconnect and resume")
            return
        self._queue.put_nowait(frame if isinstance(frame, bytes) else orjson.dumps(frame))

    def close(self, code: int, reason: str) -> None:
        """Send what is queued, then close the socket with ``code`` and ``reason``."""
        if not self.closed:
            self.closed = True
            self._queue.put_nowait((_CLOSE, code, reason))

    async def _pump(self) -> None:
        socket = self.socket
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, tuple):
                    if socket.application_state == WebSocketState.CONNECTED:
                        await socket.close(item[1], item[2][:120])
                    return
                await socket.send({"type": "websocket.send", "text": item.decode()})
        except Exception:  # the client went away; the reader notices too
            self.closed = True

    async def finish(self, timeout_s: float = 5.0) -> None:
        """Wait until the queued frames (and the close, if any) are sent."""
        if not self.closed:
            self.close(1000, "bye")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        self._task.cancel()


async def read_frame(socket: WebSocket) -> ClientFrame:
    """Return the next frame; raises _Closing when the client left, FrameRefused for garbage."""
    try:
        message = await socket.receive()
    except (WebSocketDisconnect, RuntimeError):
        raise _Closing from None
    if message["type"] == "websocket.disconnect":
        raise _Closing
    text = message.get("text")
    if text is None:
        data = message.get("bytes") or b""
        if len(data) > MAX_FRAME_BYTES:
            raise FrameRefused(
                "frame_too_large", f"a frame may hold at most {MAX_FRAME_BYTES} bytes", close=CLOSE_TOO_BIG
            )
        raise FrameRefused(
            "binary_frame", "frames are JSON text; binary frames are not accepted", close=CLOSE_UNSUPPORTED
        )
    return parse_frame(text)


def _refuse(outbox: Outbox, refused: FrameRefused) -> None:
    outbox.send(error_frame(refused.code, refused.detail, client_id=refused.client_id))
    if refused.close is not None:
        outbox.close(refused.close, refused.detail)


def _error(outbox: Outbox, error: DomainError, client_id: str | None = None) -> None:
    extra: dict[str, Any] = {"field": error.field} if error.field else {}
    outbox.send(error_frame(error.code, error.detail, client_id=client_id, **extra))


async def open_visitor(
    db: Database, *, config: WidgetConfig, visitor_id: str | None, user_id: str | None
) -> VisitorOut:
    """Return the visitor a verified ``user_id`` or a ``visitor_id`` names (see ``service.open_visitor``),
    reading before writing; two first visits of one user at once end with one visitor."""
    if user_id is not None:
        known = await db.read(
            lambda session: service.find_user_visitor(
                session, tenant_id=config.tenant_id, channel=config.channel, user_id=user_id
            )
        )
        if known is not None:
            return known
    context = Context(actor=f"{config.channel}_visitor", source=service.SOURCE)
    for attempt in (1, 2):
        try:
            visitor: VisitorOut = await db.write(
                lambda uow: service.open_visitor(uow, config=config, visitor_id=visitor_id, user_id=user_id),
                context=context,
            )
            return visitor
        except (IntegrityError, Conflict):
            # Another socket of the same user created it meanwhile: the second attempt finds it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class VisitorSocket:
    """One visitor's socket: hello, then messages, typing, receipts and contact details."""

    def __init__(
        self, socket: WebSocket, *, channel: LiveChannel, db: Database, hub: ChatHub, store: FileStore
    ) -> None:
        self.socket = socket
        self.channel = channel
        self.db = db
        self.hub = hub
        self.store = store
        self.outbox: Outbox
        self.config: WidgetConfig | None = None
        self.visitor: VisitorOut | None = None
        self.own: deque[str] = deque(maxlen=OWN_CLIENT_IDS)
        self.conversation_channel: str | None = None
        #: In-app: count this socket on the user, so that replies are pushed only to users with none open.
        self.track_presence = channel == "inapp"
        self.held: list[Event] | None = []

    # -- hub callbacks -----------------------------------------------------------------------------

    def deliver(self, event: Event) -> None:
        if self.held is not None:
            # Events that come while the welcome is being read go after it.
            self.held.append(event)
            return
        data = event.data
        kind = event.type
        if kind == "message.received" or kind == "message.sent":
            if data.get("client_id") in self.own:
                return
            self.outbox.send({"type": "message", "message": message_from_event(data)})
        elif kind == "chat.typing":
            if data["by"] != "visitor":
                self.outbox.send({"type": "typing", "by": data["by"], "state": data["state"]})
        elif kind in ("chat.delivered", "chat.read"):
            if data["by"] != "visitor":
                self.outbox.send(
                    {
                        "type": "receipt",
                        "receipt": kind[5:],
                        "message_id": data["message_id"],
                        "by": data["by"],
                    }
                )
        elif kind.startswith("conversation."):
            if kind == "conversation.channel_changed":
                self.conversation_channel = data["to_channel"]
            self.outbox.send({"type": "conversation", "event": kind[13:], "data": data})

    def resync(self) -> None:
        self.outbox.send({"type": "resync"})

    # -- the socket --------------------------------------------------------------------------------

    async def run(self) -> None:
        await self.socket.accept()
        self.outbox = Outbox(self.socket)
        try:
            with contextlib.suppress(_Closing):
                await self._serve()
        except Exception:
            log.exception("visitor socket failed")
            self.outbox.send(error_frame("internal_error", "something went wrong on our side; reconnect"))
            self.outbox.close(1011, "internal error")
        finally:
            if self.visitor is not None:
                self.hub.leave(self.visitor.tenant_id, self, self.visitor.conversation_id)
                if self.track_presence:
                    await self._mark_sockets(-1)
            await self.outbox.finish()

    async def _mark_sockets(self, change: int) -> None:
        visitor = self.visitor
        assert visitor is not None
        await self.db.write(
            lambda uow: service.mark_sockets(
                uow, tenant_id=visitor.tenant_id, visitor_id=visitor.id, channel=self.channel, change=change
            ),
            context=self._context(),
        )

    async def _serve(self) -> None:
        try:
            first = await read_frame(self.socket)
        except FrameRefused as refused:
            _refuse(self.outbox, refused)
            return
        if not isinstance(first, Hello):
            _refuse(
                self.outbox, FrameRefused("hello_expected", "the first frame is a hello", close=CLOSE_POLICY)
            )
            return
        if not await self._hello(first):
            return
        while not self.outbox.closed:
            try:
                frame = await read_frame(self.socket)
                await self._handle(frame)
            except FrameRefused as refused:
                _refuse(self.outbox, refused)
            except DomainError as error:
                _error(self.outbox, error)

    def _context(self) -> Context:
        assert self.visitor is not None
        return Context(actor=f"{self.channel}_visitor:{self.visitor.id}", source=service.SOURCE)

    async def _hello(self, hello: Hello) -> bool:
        config = await self.hub.config(hello.widget_key, self.channel)
        if config is None:
            _refuse(
                self.outbox,
                FrameRefused(
                    "widget_key_unknown",
                    f"no {self.channel} has the key {hello.widget_key!r}",
                    close=CLOSE_POLICY,
                ),
            )
            return False
        self.config = config
        user_id = hello.user_id
        reason: str | None = None
        if user_id is not None and hello.user_hash is None:
            reason = "user_id given without user_hash"
        elif user_id is not None and hello.user_hash is not None:
            if not service.identity_verified(config, user_id=user_id, presented_hash=hello.user_hash):
                reason = "user_hash does not match user_id"
        elif config.require_verified:
            reason = "this channel admits signed-in users only (user_id and user_hash)"
        if reason is not None:
            await self.db.write(
                lambda uow: service.record_rejected_identity(
                    uow, config=config, user_id=user_id, visitor_id=hello.visitor_id, reason=reason
                ),
                context=Context(actor=f"{self.channel}_visitor", source=service.SOURCE),
            )
            _refuse(
                self.outbox,
                FrameRefused(
                    "identity_invalid", f"identity verification failed: {reason}", close=CLOSE_POLICY
                ),
            )
            return False
        visitor = await open_visitor(self.db, config=config, visitor_id=hello.visitor_id, user_id=user_id)
        self.visitor = visitor
        if self.track_presence:
            await self._mark_sockets(1)
        history: list[dict[str, Any]] = []
        if visitor.conversation_id is not None:
            # Watch first, then read: a message committed in between arrives twice (clients keep one per
            # id), never not at all.
            self.hub.watch_conversation(visitor.tenant_id, visitor.conversation_id, self)
            conversation_id = visitor.conversation_id

            def read_back(session: Any) -> tuple[str, list[dict[str, Any]]]:
                conversation = conversations.get_conversation(
                    session, tenant_id=config.tenant_id, conversation_id=conversation_id
                )
                messages = service.history(
                    session, tenant_id=config.tenant_id, conversation_id=conversation_id, after=hello.after
                )
                return conversation.channel, [message_json(m) for m in messages]

            self.conversation_channel, history = await self.db.read(read_back)
        online = config.online(self.db.clock.now())
        self.outbox.send(
            {
                "type": "welcome",
                "visitor_id": visitor.id,
                "customer_id": visitor.customer_id,
                "conversation_id": visitor.conversation_id,
                "verified": visitor.user_id is not None,
                "online": online,
                "greeting": config.greeting,
                "offline_message": config.offline_message,
                "prechat": config.prechat,
                "missing": config.missing_prechat(visitor),
                "contact": {"name": visitor.name, "email": visitor.email},
                "history": history,
            }
        )
        held, self.held = self.held or [], None
        known = {message["id"] for message in history}
        for event in held:
            if not (event.type.startswith("message.") and event.data.get("message_id") in known):
                self.deliver(event)
        return True

    async def _handle(self, frame: ClientFrame) -> None:
        if isinstance(frame, Send):
            await self._message(frame)
        elif isinstance(frame, Typing):
            if self.visitor is not None and self.visitor.conversation_id is not None:
                self.hub.typing(
                    tenant_id=self.visitor.tenant_id,
                    conversation_id=self.visitor.conversation_id,
                    by="visitor",
                    actor=self.visitor.id,
                    state=frame.state,
                )
        elif isinstance(frame, Receipt):
            await self._receipt(frame)
        elif isinstance(frame, Contact):
            await self._contact(frame)
        elif isinstance(frame, Ping):
            self.outbox.send(b'{"type":"pong"}')
        else:
            raise FrameRefused(
                "unexpected_frame", f"a {frame.type} frame is not expected now", close=CLOSE_POLICY
            )

    async def _message(self, frame: Send) -> None:
        config, visitor = self.config, self.visitor
        assert config is not None and visitor is not None
        missing = config.missing_prechat(visitor)
        if missing:
            self.outbox.send(
                error_frame(
                    "prechat_required",
                    f"fill in the pre-chat form first: {', '.join(missing)}",
                    client_id=frame.client_id,
                    missing=missing,
                )
            )
            return
        try:
            for attachment in frame.attachments:
                service.check_attachment(self.store, attachment.url)
        except DomainError as error:
            _error(self.outbox, error, frame.client_id)
            return
        if visitor.conversation_id is None:
            visitor = await self.db.write(
                lambda uow: service.ensure_conversation(uow, config=config, visitor_id=visitor.id),
                context=self._context(),
            )
            self.visitor = visitor
            self.conversation_channel = config.channel
            assert visitor.conversation_id is not None
            self.hub.watch_conversation(visitor.tenant_id, visitor.conversation_id, self)
        assert visitor.conversation_id is not None
        online = config.online(self.db.clock.now())
        try:
            data = MessageCreate(
                direction="inbound",
                body=frame.body,
                attachments=frame.attachments,
                client_id=frame.client_id,
                # Online, the conversation comes back to the chat; offline, it stays where it is.
                channel=config.channel if online else None,
            )
        except ValueError as error:
            self.outbox.send(error_frame("invalid_frame", str(error), client_id=frame.client_id))
            return
        self.own.append(frame.client_id)
        try:
            posted: conversations.PostedMessage = await self.db.write_batched(
                conversations.post_messages,
                conversations.MessagePost(visitor.tenant_id, visitor.conversation_id, data),
                context=self._context(),
            )
        except DomainError as error:
            _error(self.outbox, error, frame.client_id)
            return
        self.outbox.send(
            {
                "type": "ack",
                "client_id": frame.client_id,
                "duplicate": not posted.created,
                "message": message_json(posted.message),
            }
        )
        if not online and posted.created:
            await self._offline_hand_over()

    async def _offline_hand_over(self) -> None:
        config, visitor = self.config, self.visitor
        assert config is not None and visitor is not None
        if visitor.email and self.conversation_channel != "email":
            await self._contact(Contact(type="contact", email=visitor.email), quiet=True)
        elif not visitor.email:
            self.outbox.send({"type": "offline", "ask": "email", "message": config.offline_message})

    async def _contact(self, frame: Contact, *, quiet: bool = False) -> None:
        config, visitor = self.config, self.visitor
        assert config is not None and visitor is not None
        offline = not config.online(self.db.clock.now())
        updated, moved = await self.db.write(
            lambda uow: service.save_contact(
                uow,
                config=config,
                visitor_id=visitor.id,
                name=frame.name,
                email=frame.email,
                continue_by_email=offline,
            ),
            context=self._context(),
        )
        self.visitor = updated
        if moved:
            self.conversation_channel = "email"
        self.outbox.send(
            {
                "type": "contact_saved",
                "contact": {"name": updated.name, "email": updated.email},
                "missing": config.missing_prechat(updated),
                "continues_by": "email" if self.conversation_channel == "email" else config.channel,
            }
        )

    async def _receipt(self, frame: Receipt) -> None:
        visitor = self.visitor
        assert visitor is not None
        if visitor.conversation_id is None:
            return
        await self.db.write_batched(
            service.record_receipts,
            ReceiptPost(
                tenant_id=visitor.tenant_id,
                conversation_id=visitor.conversation_id,
                message_id=frame.message_id,
                channel=self.channel,
                kind=frame.type,
                by="visitor",
                actor=visitor.id,
            ),
            context=self._context(),
        )


class AgentSocket:
    """An agent's socket: every conversation event of the tenant, and replies, typing and receipts."""

    def __init__(self, socket: WebSocket, *, db: Database, hub: ChatHub) -> None:
        self.socket = socket
        self.db = db
        self.hub = hub
        self.outbox: Outbox
        self.tenant_id: str | None = None
        self.actor = ""

    def deliver(self, event: Event) -> None:
        data = event.data
        kind = event.type
        if kind == "message.received" or kind == "message.sent":
            self.outbox.send({"type": "message", "message": message_from_event(data)})
        elif kind == "chat.typing":
            if data["by"] != "agent":
                self.outbox.send(
                    {
                        "type": "typing",
                        "conversation_id": event.subject,
                        "by": data["by"],
                        "state": data["state"],
                    }
                )
        elif kind in ("chat.delivered", "chat.read"):
            self.outbox.send(
                {
                    "type": "receipt",
                    "receipt": kind[5:],
                    "conversation_id": event.subject,
                    "message_id": data["message_id"],
                    "by": data["by"],
                }
            )
        else:
            self.outbox.send({"type": "conversation", "event": kind[13:], "data": data})

    def resync(self) -> None:
        self.outbox.send({"type": "resync"})

    async def run(self, *, authenticate: Any, header_key: str | None) -> None:
        """``authenticate(key)`` returns (tenant id, api key id) or raises DomainError."""
        await self.socket.accept()
        self.outbox = Outbox(self.socket)
        try:
            with contextlib.suppress(_Closing):
                await self._serve(authenticate, header_key)
        except Exception:
            log.exception("agent socket failed")
            self.outbox.send(error_frame("internal_error", "something went wrong on our side; reconnect"))
            self.outbox.close(1011, "internal error")
        finally:
            if self.tenant_id is not None:
                self.hub.leave(self.tenant_id, self)
            await self.outbox.finish()

    async def _serve(self, authenticate: Any, header_key: str | None) -> None:
        key = header_key
        if key is None:
            try:
                first = await read_frame(self.socket)
            except FrameRefused as refused:
                _refuse(self.outbox, refused)
                return
            if not isinstance(first, Auth):
                _refuse(
                    self.outbox,
                    FrameRefused(
                        "auth_expected",
                        'send the API key first: {"type": "auth", "api_key": ...}',
                        close=CLOSE_POLICY,
                    ),
                )
                return
            key = first.api_key
        try:
            self.tenant_id, key_id = await authenticate(key)
        except DomainError as error:
            _error(self.outbox, error)
            self.outbox.close(CLOSE_POLICY, error.detail)
            return
        self.actor = f"api_key:{key_id}"
        self.hub.join_agent(self.tenant_id, self)
        self.outbox.send({"type": "welcome", "tenant_id": self.tenant_id})
        while not self.outbox.closed:
            try:
                frame = await read_frame(self.socket)
                await self._handle(frame)
            except FrameRefused as refused:
                _refuse(self.outbox, refused)
            except DomainError as error:
                _error(self.outbox, error)

    def _context(self) -> Context:
        return Context(actor=self.actor, source="cxstack/api")

    async def _handle(self, frame: ClientFrame) -> None:
        tenant_id = self.tenant_id
        assert tenant_id is not None
        if isinstance(frame, Ping):
            self.outbox.send(b'{"type":"pong"}')
            return
        if not isinstance(frame, Send | Typing | Receipt):
            raise FrameRefused(
                "unexpected_frame", f"a {frame.type} frame is not expected now", close=CLOSE_POLICY
            )
        conversation_id = frame.conversation_id
        if conversation_id is None:
            client_id = frame.client_id if isinstance(frame, Send) else None
            self.outbox.send(
                error_frame("invalid_frame", "conversation_id: Field required", client_id=client_id)
            )
            return
        if isinstance(frame, Typing):
            self.hub.typing(
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                by="agent",
                actor=self.actor,
                state=frame.state,
            )
        elif isinstance(frame, Receipt):
            await self.db.write_batched(
                service.record_receipts,
                ReceiptPost(
                    tenant_id=tenant_id,
                    conversation_id=conversation_id,
                    message_id=frame.message_id,
                    channel="",
                    kind=frame.type,
                    by="agent",
                    actor=self.actor,
                ),
                context=self._context(),
            )
        else:
            try:
                data = MessageCreate(
                    direction="outbound",
                    author_kind="agent",
                    author_id=self.actor,
                    body=frame.body,
                    attachments=frame.attachments,
                    client_id=frame.client_id,
                )
                posted: conversations.PostedMessage = await self.db.write_batched(
                    conversations.post_messages,
                    conversations.MessagePost(tenant_id, conversation_id, data),
                    context=self._context(),
                )
            except DomainError as error:
                _error(self.outbox, error, frame.client_id)
                return
            self.outbox.send(
                {
                    "type": "ack",
                    "client_id": frame.client_id,
                    "duplicate": not posted.created,
                    "message": message_json(posted.message),
                }
            )
