"""The live hub of a process: one live-feed subscription per tenant with open sockets, fanned out to the
sockets by subject (a visitor's conversation) or to all of them (agents), so that one event costs one
look-up however many sockets are open. A tenant's subscription starts with its first socket and ends with
its last; when it falls behind it is started again and every socket is told to resume (``resync``)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Protocol

import structlog

from cxstack.backbone.envelope import Event
from cxstack.backbone.live import LiveFeed, LiveSubscription

log = structlog.get_logger("cxstack.live")

#: Events the hub may hold for its sockets before it is cut off and they are told to resume.
HUB_QUEUE = 200_000


class Peer(Protocol):
    """An open socket as the hub sees it."""

    def deliver(self, event: Event) -> None: ...

    def resync(self) -> None: ...


class _TenantFeed:
    def __init__(self, hub: LiveHub, tenant_id: str) -> None:
        self.hub = hub
        self.tenant_id = tenant_id
        self.by_subject: dict[str, set[Peer]] = {}
        self.everything: set[Peer] = set()
        self.watch: LiveSubscription = hub.live.subscribe(
            tenant_id=tenant_id, types=hub.types, max_queue=hub.queue
        )
        self.task = asyncio.get_running_loop().create_task(self._run())

    @property
    def empty(self) -> bool:
        return not self.by_subject and not self.everything

    async def _run(self) -> None:
        while True:
            async for event in self.watch:
                self._dispatch(event)
            if not self.watch.overflowed:
                return
            log.warning("live hub fell behind; sockets resume", tenant=self.tenant_id)
            self.watch = self.hub.live.subscribe(
                tenant_id=self.tenant_id, types=self.hub.types, max_queue=self.hub.queue
            )
            for peer in [*self.everything, *(p for peers in self.by_subject.values() for p in peers)]:
                peer.resync()

    def _dispatch(self, event: Event) -> None:
        peers = self.by_subject.get(event.subject)
        for peer in [*self.everything, *(peers or ())]:
            try:
                peer.deliver(event)
            except Exception:  # one socket's trouble must not stop the others' feed
                log.exception("live event not delivered to a socket", type=event.type, subject=event.subject)

    def close(self) -> None:
        self.watch.close()
        self.task.cancel()


class LiveHub:
    """Open live sockets of this process, by tenant and subject, fed the events of ``types``."""

    def __init__(self, live: LiveFeed, *, types: Collection[str], queue: int = HUB_QUEUE) -> None:
        self.live = live
        self.types = frozenset(types)
        self.queue = queue
        self._tenants: dict[str, _TenantFeed] = {}

    def _feed(self, tenant_id: str) -> _TenantFeed:
        feed = self._tenants.get(tenant_id)
        if feed is None:
            feed = self._tenants[tenant_id] = _TenantFeed(self, tenant_id)
        return feed

    def watch_all(self, tenant_id: str, peer: Peer) -> None:
        """Hand ``peer`` every event of the tenant."""
        self._feed(tenant_id).everything.add(peer)

    def watch_subject(self, tenant_id: str, subject: str, peer: Peer) -> None:
        """Hand ``peer`` the tenant's events about ``subject``."""
        self._feed(tenant_id).by_subject.setdefault(subject, set()).add(peer)

    def leave(self, tenant_id: str, peer: Peer, subject: str | None = None) -> None:
        """Stop handing ``peer`` the tenant's events (all of them, or those of ``subject``)."""
        feed = self._tenants.get(tenant_id)
        if feed is None:
            return
        feed.everything.discard(peer)
        if subject is not None:
            peers = feed.by_subject.get(subject)
            if peers is not None:
                peers.discard(peer)
                if not peers:
                    del feed.by_subject[subject]
        if feed.empty:
            feed.close()
            del self._tenants[tenant_id]

    def close(self) -> None:
        for feed in self._tenants.values():
            feed.close()
        self._tenants.clear()
