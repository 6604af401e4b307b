"""An agent's live-chat socket: every conversation event of the tenant, and replies, typing and receipts,
speaking ``protocol``."""

from __future__ import annotations

import contextlib
from typing import Any

import structlog
from starlette.websockets import WebSocket

from cxstack.backbone.database import Database
from cxstack.backbone.envelope import Event
from cxstack.backbone.unit_of_work import Context
from cxstack.channels.webchat import service
from cxstack.channels.webchat.connection import Closing, Outbox, read_frame, refuse, report_error
from cxstack.channels.webchat.hub import ChatHub
from cxstack.channels.webchat.protocol import (
    CLOSE_POLICY,
    Auth,
    ClientFrame,
    FrameRefused,
    Ping,
    Receipt,
    Send,
    Typing,
    error_frame,
    message_from_event,
    message_json,
)
from cxstack.channels.webchat.service import ReceiptPost
from cxstack.kit.errors import DomainError
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import MessageCreate

log = structlog.get_logger("cxstack.webchat")


class AgentSocket:
    """An agent's socket: every conversation event of the tenant, and replies, typing and receipts."""

    def __init__(
        self,
        socket: WebSocket,
        *,
        db: Database,
        hub: ChatHub,
        checks: conversations.DeliveryChecks | None = None,
    ) -> None:
        self.socket = socket
        self.db = db
        self.hub = hub
        #: The channels' recipient checks: a reply they will not deliver says so in its ack.
        self.checks = checks
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
        elif kind.startswith("customer."):
            self.outbox.send({"type": "customer", "event": kind[9:], "data": data})
        else:
            self.outbox.send({"type": "conversation", "event": kind[13:], "data": data})

    def resync(self) -> None:
        self.outbox.send({"type": "resync"})

    async def run(self, *, authenticate: Any, header_key: str | None) -> None:
        """``authenticate(key)`` returns (tenant id, api key id) or raises DomainError."""
        await self.socket.accept()
        self.outbox = Outbox(self.socket)
        try:
            with contextlib.suppress(Closing):
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
                refuse(self.outbox, refused)
                return
            if not isinstance(first, Auth) or first.api_key is None:
                refuse(
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
            report_error(self.outbox, error)
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
                refuse(self.outbox, refused)
            except DomainError as error:
                report_error(self.outbox, error)

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
            await self.hub.typing(
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
                    conversations.MessagePost(tenant_id, conversation_id, data, self.checks),
                    context=self._context(),
                )
            except DomainError as error:
                report_error(self.outbox, error, frame.client_id)
                return
            self.outbox.send(
                {
                    "type": "ack",
                    "client_id": frame.client_id,
                    "duplicate": not posted.created,
                    "message": message_json(posted.message),
                }
            )
