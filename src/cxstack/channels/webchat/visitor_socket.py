"""A visitor's live-chat socket (the webchat widget's, and the in-app channel's): hello, then messages,
typing, receipts and contact details, speaking ``protocol``.

An anonymous visitor's hello stores nothing: the welcome hands out (or keeps) the visitor's id, and the
visitor and their customer are stored when they first write or identify (a message, the pre-chat form, a
sign-in). A verified user's hello identifies them at once."""

from __future__ import annotations

from collections import deque
from typing import Any

from sqlalchemy.exc import IntegrityError
from starlette.websockets import WebSocket

from cxstack.backbone.database import Database
from cxstack.backbone.envelope import Event
from cxstack.backbone.unit_of_work import Context
from cxstack.channels.live.connection import LiveSocket
from cxstack.channels.live.frames import CLOSE_POLICY, FrameRefused, error_frame
from cxstack.channels.webchat import attachments, service
from cxstack.channels.webchat.hub import ChatHub
from cxstack.channels.webchat.protocol import (
    FRAMES,
    Auth,
    ClientFrame,
    Contact,
    Hello,
    Receipt,
    Send,
    Typing,
    message_from_event,
    message_json,
)
from cxstack.channels.webchat.service import LiveChannel, ReceiptPost, VisitorOut, WidgetConfig
from cxstack.channels.webchat.sign_in import AlreadySignedIn, SignedIn, sign_in_visitor
from cxstack.kit.errors import Conflict, DomainError, NotFound
from cxstack.kit.files import FileStore
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import MessageCreate, MessageOut, shown_to_customer

#: Client ids of a visitor's own messages remembered, so that the feed does not echo them back.
OWN_CLIENT_IDS = 256


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


async def sign_in(db: Database, *, config: WidgetConfig, visitor_id: str, user_id: str) -> SignedIn:
    """Sign the anonymous visitor ``visitor_id`` in as the verified ``user_id`` (see ``sign_in``); a
    visitor that another socket signed in meanwhile ends as the user's visitor all the same. Raises
    AlreadySignedIn."""
    context = Context(actor=f"{config.channel}_visitor:{visitor_id}", source=service.SOURCE)
    for attempt in (1, 2):
        try:
            outcome: SignedIn = await db.write(
                lambda uow: sign_in_visitor(uow, config=config, visitor_id=visitor_id, user_id=user_id),
                context=context,
            )
            return outcome
        except AlreadySignedIn:
            raise
        except NotFound:
            break  # signed in and taken over by the user's visitor from another socket meanwhile
        except (IntegrityError, Conflict):
            # Another socket signed the same new user in meanwhile: the second attempt merges into them.
            if attempt == 2:
                raise
    visitor = await open_visitor(db, config=config, visitor_id=None, user_id=user_id)
    return SignedIn(visitor=visitor, anonymous_visitor_id=visitor_id, merge_id=None)


class VisitorSocket(LiveSocket[ClientFrame]):
    """One visitor's socket: hello, then messages, typing, receipts and contact details."""

    def __init__(
        self, socket: WebSocket, *, channel: LiveChannel, db: Database, hub: ChatHub, store: FileStore
    ) -> None:
        super().__init__(socket, hub=hub, grammar=FRAMES)
        self.channel = channel
        self.db = db
        self.chat_hub = hub
        self.store = store
        self.config: WidgetConfig | None = None
        #: The stored visitor; None until an anonymous visitor first writes or identifies.
        self.visitor: VisitorOut | None = None
        #: The id the client knows this visitor by, stored or not yet.
        self.visitor_id: str | None = None
        self.own: deque[str] = deque(maxlen=OWN_CLIENT_IDS)
        self.conversation_channel: str | None = None
        #: In-app: count this socket on the user, so that replies are pushed only to users with none open.
        self.track_presence = channel == "inapp"

    def show(self, event: Event) -> None:
        data = event.data
        kind = event.type
        if kind == "message.received" or kind == "message.sent":
            if data.get("client_id") in self.own or not shown_to_customer(data.get("visibility", "public")):
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

    async def closing(self) -> None:
        if self.visitor is not None and self.track_presence:
            await self._mark_sockets(-1)

    async def _mark_sockets(self, change: int) -> None:
        visitor = self.visitor
        assert visitor is not None
        await self.db.write(
            lambda uow: service.mark_sockets(
                uow, tenant_id=visitor.tenant_id, visitor_id=visitor.id, channel=self.channel, change=change
            ),
            context=self._context(),
        )

    async def open(self) -> bool:
        first = await self.read_first(
            lambda frame: isinstance(frame, Hello),
            FrameRefused("hello_expected", "the first frame is a hello", close=CLOSE_POLICY),
        )
        if first is None:
            return False
        assert isinstance(first, Hello)
        return await self._hello(first)

    async def _read_back(self, conversation_id: str, *, after: str | None) -> list[dict[str, Any]]:
        """Return the conversation's messages after ``after`` as frames carry them; note its channel."""
        tenant_id = self.config.tenant_id if self.config is not None else ""

        def read_back(session: Any) -> tuple[str, list[dict[str, Any]]]:
            conversation = conversations.get_conversation(
                session, tenant_id=tenant_id, conversation_id=conversation_id
            )
            messages = service.history(
                session, tenant_id=tenant_id, conversation_id=conversation_id, after=after
            )
            return conversation.channel, [self._shown(m) for m in messages]

        self.conversation_channel, history = await self.db.read(read_back)
        return history

    def _shown(self, message: MessageOut) -> dict[str, Any]:
        """A message as this visitor's frames carry it: with download links to its attachments."""
        assert self.config is not None
        return attachments.with_download_urls(
            message_json(message),
            config=self.config,
            base=attachments.public_base(self.socket),
            now=self.db.clock.now(),
        )

    def _context(self) -> Context:
        return Context(actor=f"{self.channel}_visitor:{self.visitor_id}", source=service.SOURCE)

    async def _stored(self) -> VisitorOut:
        """Return the visitor, storing it (and its customer) now if this is their first write."""
        if self.visitor is None:
            assert self.config is not None
            self.visitor = await open_visitor(
                self.db, config=self.config, visitor_id=self.visitor_id, user_id=None
            )
            self.visitor_id = self.visitor.id
            if self.track_presence:
                await self._mark_sockets(1)
        return self.visitor

    async def _hello(self, hello: Hello) -> bool:
        config = await self.chat_hub.config(hello.widget_key, self.channel)
        if config is None:
            self.refuse(
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
            self.refuse(
                FrameRefused(
                    "identity_invalid", f"identity verification failed: {reason}", close=CLOSE_POLICY
                ),
            )
            return False
        visitor, free = await self._visitor_of(config, hello, user_id)
        self.visitor = visitor
        if visitor is not None:
            self.visitor_id = visitor.id
            if self.track_presence:
                await self._mark_sockets(1)
        elif hello.visitor_id is not None and free:
            self.visitor_id = hello.visitor_id  # a page before handed it out; nothing was written yet
        else:
            self.visitor_id = service.new_visitor_id()
        history: list[dict[str, Any]] = []
        if visitor is not None and visitor.conversation_id is not None:
            # Watch first, then read: a message committed in between arrives twice (clients keep one per
            # id), never not at all.
            self.watch_subject(visitor.tenant_id, visitor.conversation_id)
            history = await self._read_back(visitor.conversation_id, after=hello.after)
        online = config.online(self.db.clock.now())
        known = {message["id"] for message in history}
        self.welcome(
            {
                "type": "welcome",
                "visitor_id": self.visitor_id,
                "customer_id": visitor.customer_id if visitor else None,
                "conversation_id": visitor.conversation_id if visitor else None,
                "verified": visitor is not None and visitor.user_id is not None,
                "online": online,
                "greeting": config.greeting,
                "offline_message": config.offline_message,
                "prechat": config.prechat,
                "missing": config.missing_prechat(visitor),
                "contact": {
                    "name": visitor.name if visitor else None,
                    "email": visitor.email if visitor else None,
                },
                "history": history,
            },
            shown=lambda event: event.type.startswith("message.") and event.data.get("message_id") in known,
        )
        return True

    async def _visitor_of(
        self, config: WidgetConfig, hello: Hello, user_id: str | None
    ) -> tuple[VisitorOut | None, bool]:
        """The stored visitor a hello speaks for (None: an anonymous visitor not stored yet, who is not
        stored now either), and whether the hello's ``visitor_id`` is free to store a new visitor under
        (``service.visitor_id_free``). A verified user's hello identifies them (stored now); one that names
        an anonymous visitor signs that visitor in."""
        visitor_id = hello.visitor_id
        known: VisitorOut | None = None
        free = False
        if visitor_id is not None:
            named = visitor_id

            def look_up(session: Any) -> tuple[VisitorOut | None, bool]:
                found = service.find_visitor(
                    session, tenant_id=config.tenant_id, visitor_id=named, channel=config.channel
                )
                if found is not None:
                    return found, False
                return None, service.visitor_id_free(
                    session, tenant_id=config.tenant_id, channel=config.channel, visitor_id=named
                )

            known, free = await self.db.read(look_up)
        if user_id is not None:
            if visitor_id is not None and known is not None and known.user_id is None:
                signed_in = await sign_in(self.db, config=config, visitor_id=visitor_id, user_id=user_id)
                return signed_in.visitor, False
            return await open_visitor(self.db, config=config, visitor_id=None, user_id=user_id), free
        if known is not None and known.user_id is None:
            return known, False
        return None, free

    async def _sign_in(self, frame: Auth) -> None:
        config, visitor = self.config, self.visitor
        assert config is not None and self.visitor_id is not None
        visitor_id = self.visitor_id
        user_id, presented = frame.user_id, frame.user_hash
        if user_id is None or presented is None:
            raise FrameRefused("invalid_frame", "a visitor signs in with user_id and user_hash (no api_key)")
        if not service.identity_verified(config, user_id=user_id, presented_hash=presented):
            await self.db.write(
                lambda uow: service.record_rejected_identity(
                    uow,
                    config=config,
                    user_id=user_id,
                    visitor_id=visitor_id,
                    reason="user_hash does not match user_id (sign-in)",
                ),
                context=self._context(),
            )
            self.outbox.send(
                error_frame(
                    "identity_invalid",
                    "identity verification failed: user_hash does not match user_id; "
                    "the chat goes on anonymously",
                    field="user_hash",
                )
            )
            return
        if visitor is None:
            # Nothing was written anonymously: the visitor simply becomes the user.
            signed_in = await open_visitor(self.db, config=config, visitor_id=None, user_id=user_id)
            merged = False
        else:
            outcome = await sign_in(self.db, config=config, visitor_id=visitor.id, user_id=user_id)
            signed_in, merged = outcome.visitor, outcome.merge_id is not None
        self.visitor, self.visitor_id = signed_in, signed_in.id
        before = visitor.conversation_id if visitor is not None else None
        now = signed_in.conversation_id
        if now != before:
            if now is not None:
                self.watch_subject(signed_in.tenant_id, now)
            if before is not None:
                self.unwatch_subject(before)
        if self.track_presence and (visitor is None or signed_in.id != visitor.id):
            await self._mark_sockets(1)
        history: list[dict[str, Any]] = []
        if now is not None:
            history = await self._read_back(now, after=None)
        self.outbox.send(
            {
                "type": "signed_in",
                "visitor_id": signed_in.id,
                "customer_id": signed_in.customer_id,
                "conversation_id": now,
                "verified": True,
                "merged": merged,
                "contact": {"name": signed_in.name, "email": signed_in.email},
                "missing": config.missing_prechat(signed_in),
                "history": history,
            }
        )

    async def handle(self, frame: ClientFrame) -> None:
        if isinstance(frame, Send):
            await self._message(frame)
        elif isinstance(frame, Auth):
            await self._sign_in(frame)
        elif isinstance(frame, Typing):
            if self.visitor is not None and self.visitor.conversation_id is not None:
                await self.chat_hub.typing(
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
        else:
            raise FrameRefused(
                "unexpected_frame", f"a {frame.type} frame is not expected now", close=CLOSE_POLICY
            )

    async def _message(self, frame: Send) -> None:
        config = self.config
        assert config is not None
        missing = config.missing_prechat(self.visitor)
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
        if frame.attachments:
            # Checked before anything is stored: a refused message starts no visitor and no conversation.
            tenant_id = config.tenant_id
            conversation_id = self.visitor.conversation_id if self.visitor is not None else None
            try:
                await self.db.read(
                    lambda session: service.check_attachments(
                        session,
                        tenant_id=tenant_id,
                        conversation_id=conversation_id,
                        attachments=frame.attachments,
                    )
                )
            except DomainError as error:
                self.report(error, frame.client_id)
                return
        visitor = await self._stored()
        if visitor.conversation_id is None:
            visitor = await self.db.write(
                lambda uow: service.ensure_conversation(uow, config=config, visitor_id=visitor.id),
                context=self._context(),
            )
            self.visitor = visitor
            self.conversation_channel = config.channel
            assert visitor.conversation_id is not None
            self.watch_subject(visitor.tenant_id, visitor.conversation_id)
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
            self.report(error, frame.client_id)
            return
        self.outbox.send(
            {
                "type": "ack",
                "client_id": frame.client_id,
                "duplicate": not posted.created,
                "message": self._shown(posted.message),
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
        config = self.config
        assert config is not None
        if frame.email:
            service.normalised_email(frame.email)  # a bad address stores nothing, not even the visitor
        visitor = await self._stored()
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
        if visitor is None or visitor.conversation_id is None:
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
