"""The live hub of a process: one live-feed subscription per tenant with open sockets, fanned out to the
sockets by conversation (visitors) or to all of them (agents), so that one event costs one look-up however
many sockets are open. Typing indicators are not stored: they go out as the feed's signals, which reach the
sockets of every serve process (``LiveFeed.signal``)."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import structlog

from cxstack.backbone.database import Database
from cxstack.backbone.envelope import Event
from cxstack.backbone.live import LiveFeed, LiveSubscription
from cxstack.channels.webchat import service
from cxstack.channels.webchat.service import LiveChannel, WidgetConfig

log = structlog.get_logger("cxstack.webchat")

#: The event types live sockets show.
LIVE_TYPES = frozenset(
    {
        "message.received",
        "message.sent",
        "chat.delivered",
        "chat.read",
        "chat.typing",
        "conversation.created",
        "conversation.channel_changed",
        "conversation.closed",
        "conversation.reopened",
        "customer.merged",
    }
)
TYPING = "chat.typing"
#: Events the hub may hold for its sockets before it is cut off and they are told to resume.
HUB_QUEUE = 200_000
CONFIG_CACHE_SECONDS = 10.0


class Peer(Protocol):
    """An open socket as the hub sees it."""

    def deliver(self, event: Event) -> None: ...

    def resync(self) -> None: ...


class _TenantFeed:
    def __init__(self, hub: ChatHub, tenant_id: str) -> None:
        self.hub = hub
        self.tenant_id = tenant_id
        self.by_conversation: dict[str, set[Peer]] = {}
        self.agents: set[Peer] = set()
        self.watch: LiveSubscription = hub.live.subscribe(
            tenant_id=tenant_id, types=LIVE_TYPES, max_queue=HUB_QUEUE
        )
        self.task = asyncio.get_running_loop().create_task(self._run())

    @property
    def empty(self) -> bool:
        return not self.by_conversation and not self.agents

    async def _run(self) -> None:
        while True:
            async for event in self.watch:
                self._dispatch(event)
            if not self.watch.overflowed:
                return
            log.warning("live hub fell behind; sockets resume", tenant=self.tenant_id)
            self.watch = self.hub.live.subscribe(
                tenant_id=self.tenant_id, types=LIVE_TYPES, max_queue=HUB_QUEUE
            )
            for peer in [*self.agents, *(p for peers in self.by_conversation.values() for p in peers)]:
                peer.resync()

    def _dispatch(self, event: Event) -> None:
        peers = self.by_conversation.get(event.subject)
        for peer in [*self.agents, *(peers or ())]:
            try:
                peer.deliver(event)
            except Exception:  # one socket's trouble must not stop the others' feed
                log.exception("live event not delivered to a socket", type=event.type, subject=event.subject)

    def close(self) -> None:
        self.watch.close()
        self.task.cancel()


class ChatHub:
    """Open live-chat sockets of this process, by tenant and conversation."""

    def __init__(self, db: Database, live: LiveFeed) -> None:
        self.db = db
        self.live = live
        self._tenants: dict[str, _TenantFeed] = {}
        self._configs: dict[tuple[str, str], tuple[WidgetConfig | None, float]] = {}

    def _feed(self, tenant_id: str) -> _TenantFeed:
        feed = self._tenants.get(tenant_id)
        if feed is None:
            feed = self._tenants[tenant_id] = _TenantFeed(self, tenant_id)
        return feed

    def join_agent(self, tenant_id: str, peer: Peer) -> None:
        self._feed(tenant_id).agents.add(peer)

    def watch_conversation(self, tenant_id: str, conversation_id: str, peer: Peer) -> None:
        self._feed(tenant_id).by_conversation.setdefault(conversation_id, set()).add(peer)

    def leave(self, tenant_id: str, peer: Peer, conversation_id: str | None = None) -> None:
        feed = self._tenants.get(tenant_id)
        if feed is None:
            return
        feed.agents.discard(peer)
        if conversation_id is not None:
            peers = feed.by_conversation.get(conversation_id)
            if peers is not None:
                peers.discard(peer)
                if not peers:
                    del feed.by_conversation[conversation_id]
        if feed.empty:
            feed.close()
            del self._tenants[tenant_id]

    async def typing(self, *, tenant_id: str, conversation_id: str, by: str, actor: str, state: bool) -> None:
        """Show a typing indicator to the conversation's other side, on whichever serve process its sockets
        are (a signal of the live feed: not stored, it matters only now)."""
        await self.live.signal(
            tenant_id=tenant_id,
            subject=conversation_id,
            type=TYPING,
            data={"conversation_id": conversation_id, "by": by, "actor": actor, "state": state},
            source=service.SOURCE,
        )

    async def config(self, widget_key: str, channel: LiveChannel) -> WidgetConfig | None:
        """Return the settings behind a public key (read again every ``CONFIG_CACHE_SECONDS``)."""
        cached = self._configs.get((widget_key, channel))
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        found = await self.db.read(
            lambda session: service.widget_config(session, widget_key=widget_key, channel=channel)
        )
        if len(self._configs) > 10_000:
            self._configs.clear()
        self._configs[(widget_key, channel)] = (found, time.monotonic() + CONFIG_CACHE_SECONDS)
        return found

    def forget_configs(self) -> None:
        self._configs.clear()

    def close(self) -> None:
        for feed in self._tenants.values():
            feed.close()
        self._tenants.clear()


def hub_of(extras: dict[str, object], db: Database, live: LiveFeed) -> ChatHub:
    """Return the process's hub, kept among the runtime's extras (made on first use)."""
    hub = extras.get("chat_hub")
    if not isinstance(hub, ChatHub) or hub.live is not live:
        hub = ChatHub(db, live)
        extras["chat_hub"] = hub
    return hub
