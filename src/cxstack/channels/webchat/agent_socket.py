"""An agent's live-chat socket: every conversation event of the tenant, and replies, typing and receipts,
speaking ``protocol``. The socket lives as long as its API key: it is checked again every
``KEY_RECHECK_SECONDS`` (and at once when this process sees the key revoked), and the socket is closed
(``unauthorized``, 1008) when it no longer holds.

A signed-in person's socket (their session cookie, checked again as a key is) carries only the events of
the conversations they see (``cxstack.governance.staff.visibility``): whether they see each is read from
the database as its events come, for the events that came meanwhile together (and for every socket of the
process shown the same events in one read: ``ChatHub.audiences``), so that a conversation routed to their
team, or assigned to them, shows from its next event on. Their frames about a conversation
they do not see are answered as about one that does not exist."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import structlog
from starlette.websockets import WebSocket

from cxstack.backbone.database import Database
from cxstack.backbone.envelope import Event
from cxstack.backbone.unit_of_work import Context
from cxstack.channels.live.connection import LiveSocket
from cxstack.channels.live.frames import CLOSE_POLICY, FrameRefused, error_frame
from cxstack.channels.webchat import service
from cxstack.channels.webchat.hub import ChatHub
from cxstack.channels.webchat.protocol import (
    FRAMES,
    Auth,
    ClientFrame,
    Receipt,
    Send,
    Typing,
    message_from_event,
    message_json,
)
from cxstack.channels.webchat.service import ReceiptPost
from cxstack.governance.staff.visibility import Visibility
from cxstack.kit.errors import DomainError, Unauthorized
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import MessageCreate

#: How often an open agent socket checks its API key again (a prepared point read, as every request's).
KEY_RECHECK_SECONDS = 5.0

#: Checks an API key: returns (tenant id, API key id); raises DomainError when it is not valid.
Authenticate = Callable[[str], Awaitable[tuple[str, str]]]

log = structlog.get_logger("cxstack.webchat")


@dataclass(frozen=True, slots=True)
class SocketPerson:
    """The signed-in person a socket's session cookie names, and the conversations they see (None: all)."""

    tenant_id: str
    user_id: str
    visibility: Visibility | None


#: Checks the session cookie a socket was opened with: returns its person; raises DomainError when it no
#: longer signs anyone in.
CheckSession = Callable[[], Awaitable[SocketPerson]]
#: Event types whose subject is a conversation.
_CONVERSATION_EVENTS = ("message.", "chat.", "conversation.")


class AgentSocket(LiveSocket[ClientFrame]):
    """An agent's socket: every conversation event of the tenant, and replies, typing and receipts."""

    recheck_seconds = KEY_RECHECK_SECONDS

    def __init__(
        self,
        socket: WebSocket,
        *,
        db: Database,
        hub: ChatHub,
        authenticate: Authenticate,
        header_key: str | None,
        checks: conversations.DeliveryChecks | None = None,
        session: CheckSession | None = None,
    ) -> None:
        super().__init__(socket, hub=hub, grammar=FRAMES)
        self.db = db
        self.chat_hub = hub
        self.authenticate = authenticate
        #: The key of the ``Authorization`` header; None: the first frame carries it.
        self.key = header_key
        self.key_id = ""
        #: The channels' recipient checks: a reply they will not deliver says so in its ack.
        self.checks = checks
        self.actor = ""
        #: The session cookie's check, when a person opened the socket with it rather than with a key.
        self.session = session
        #: The conversations the socket's person sees (None: all).
        self.visibility: Visibility | None = None
        #: Events waiting for whether their conversation is seen, in the order they came.
        self._waiting: deque[Event] = deque()
        self._sorting: asyncio.Task[None] | None = None

    def show(self, event: Event) -> None:
        if self.visibility is None and not self._waiting:
            self._show(event)
            return
        self._waiting.append(event)
        if self._sorting is None or self._sorting.done():
            self._sorting = asyncio.get_running_loop().create_task(self._sort())

    async def _sort(self) -> None:
        """Show the waiting events of the conversations the person sees, in order; the others are dropped."""
        while self._waiting:
            batch = list(self._waiting)
            self._waiting.clear()
            visibility = self.visibility
            subjects = sorted({e.subject for e in batch if e.type.startswith(_CONVERSATION_EVENTS)})
            seen: set[str] | None = None
            if visibility is not None and subjects and self.tenant_id is not None:
                try:
                    audiences = await self.chat_hub.audiences(self.tenant_id, subjects)
                    seen = {
                        conversation_id
                        for conversation_id, (team_ids, assignee) in audiences.items()
                        if visibility.allows(team_ids=team_ids, assignee=assignee)
                    }
                except Exception as error:  # the database away: the client reads what it missed
                    log.warning("agent socket could not sort events", error=repr(error))
                    self.resync()
                    continue
            for event in batch:
                if seen is None or not event.type.startswith(_CONVERSATION_EVENTS) or event.subject in seen:
                    self._show(event)

    async def _require_seen(self, conversation_id: str) -> None:
        """Raises NotFound when the socket's person does not see the conversation."""
        visibility = self.visibility
        if visibility is not None and self.tenant_id is not None:
            await self.db.read(
                partial(
                    conversations.require_seen,
                    tenant_id=self.tenant_id,
                    conversation_id=conversation_id,
                    visibility=visibility,
                )
            )

    async def closing(self) -> None:
        if self._sorting is not None:
            self._sorting.cancel()
            with contextlib.suppress(BaseException):
                await self._sorting

    def _show(self, event: Event) -> None:
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
        elif kind == "api_key.revoked":
            if data.get("api_key_id") == self.key_id:
                self.end(Unauthorized("the API key was revoked"))
        elif kind.startswith("customer."):
            self.outbox.send({"type": "customer", "event": kind[9:], "data": data})
        else:
            self.outbox.send({"type": "conversation", "event": kind[13:], "data": data})

    async def open(self) -> bool:
        if self.session is not None:
            try:
                person = await self.session()
            except DomainError as error:
                self.end(error)
                return False
            self.actor = f"user:{person.user_id}"
            self.visibility = person.visibility
            self.watch_all(person.tenant_id)
            self.welcome({"type": "welcome", "tenant_id": person.tenant_id, "user_id": person.user_id})
            return True
        if self.key is None:
            first = await self.read_first(
                lambda frame: isinstance(frame, Auth) and frame.api_key is not None,
                FrameRefused(
                    "auth_expected",
                    'send the API key first: {"type": "auth", "api_key": ...}',
                    close=CLOSE_POLICY,
                ),
            )
            if first is None:
                return False
            assert isinstance(first, Auth)
            self.key = first.api_key
        assert self.key is not None
        try:
            tenant_id, self.key_id = await self.authenticate(self.key)
        except DomainError as error:
            self.end(error)
            return False
        self.actor = f"api_key:{self.key_id}"
        self.watch_all(tenant_id)
        self.welcome({"type": "welcome", "tenant_id": tenant_id})
        return True

    async def check_credential(self) -> None:
        """Raises Unauthorized once the key is revoked, or no longer has the scopes the socket needs (a
        person's: once the session ended); a person's teams are read again."""
        if self.session is not None:
            self.visibility = (await self.session()).visibility
            return
        assert self.key is not None
        await self.authenticate(self.key)

    def _context(self) -> Context:
        return Context(actor=self.actor, source="cxstack/api")

    async def handle(self, frame: ClientFrame) -> None:
        tenant_id = self.tenant_id
        assert tenant_id is not None
        if not isinstance(frame, Send | Typing | Receipt):
            raise FrameRefused(
                "unexpected_frame", f"a {frame.type} frame is not expected now", close=CLOSE_POLICY
            )
        conversation_id = frame.conversation_id
        if conversation_id is not None:
            try:
                await self._require_seen(conversation_id)
            except DomainError as error:
                self.report(error, frame.client_id if isinstance(frame, Send) else None)
                return
        if conversation_id is None:
            client_id = frame.client_id if isinstance(frame, Send) else None
            self.outbox.send(
                error_frame("invalid_frame", "conversation_id: Field required", client_id=client_id)
            )
            return
        if isinstance(frame, Typing):
            await self.chat_hub.typing(
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
                self.report(error, frame.client_id)
                return
            self.outbox.send(
                {
                    "type": "ack",
                    "client_id": frame.client_id,
                    "duplicate": not posted.created,
                    "message": message_json(posted.message),
                }
            )
