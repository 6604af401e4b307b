"""The live feed: committed events pushed to whoever is watching now (WebSockets of visitors and agents).

Subscriptions (``cxstack.backbone.subscriptions``) are the durable way to react to events: at least once,
in their own transactions. The live feed is the fast, best-effort way to show them: a watcher gets the
events committed after it started watching, moments after their commit, and nothing it missed while away
(it reads that from the database when it comes back). A watcher that falls behind by more than its queue
holds is cut off (``overflowed``) rather than slowing anyone down.

Where the events come from:

- embedded driver: the database hands over each committed transaction's events on the event loop, in commit
  order (``Database.add_event_listener``).
- scale-out driver: every ``serve`` process reads the broker's subjects of the log (``<prefix>.events.>``, a
  plain NATS subscription beside the workers' JetStream consumers), so a watcher sees the events of every
  process; its own process's commits come the same way.

Signals (``LiveFeed.signal``) are what matters only now and is never stored, such as a typing indicator:
offered to watchers exactly as events are (same filters, same overflow rule), but not part of the log. On
the embedded driver a signal goes straight to this process's watchers; on the scale-out driver it is
published on the plain NATS subject ``<prefix>.signals.<tenant>`` (core NATS, never JetStream, so nothing
keeps it) that every ``serve`` process subscribes to, its own included. A signal sent while the broker is
away is lost, as a typing indicator may be.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import orjson
import structlog

from cxstack.backbone.envelope import Event
from cxstack.kit.ids import new_ulid

log = structlog.get_logger("cxstack.live")

#: Events a watcher may have waiting before it is cut off.
DEFAULT_QUEUE = 1000
#: What may stand in a NATS subject token: a tenant id of a signal's subject.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class LiveSubscription:
    """One watcher's view of the feed: the events of one tenant, optionally only some types or subjects.

    Iterate it (``async for event in watch``) until it is closed; ``subjects`` may change while it runs
    (a socket joining a conversation).
    """

    def __init__(
        self,
        feed: LiveFeed,
        *,
        tenant_id: str,
        types: Collection[str] | None,
        subjects: Collection[str] | None,
        max_queue: int,
        matching: Callable[[Event], bool] | None = None,
    ) -> None:
        self._feed = feed
        #: Only the events this says yes to (tested as events are handed out: a watcher wakes for its own).
        self.matching = matching
        self.tenant_id = tenant_id
        self.types = frozenset(types) if types is not None else None
        #: None: every subject of the tenant.
        self.subjects: set[str] | None = set(subjects) if subjects is not None else None
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._max_queue = max_queue
        self.closed = False
        #: True when the watcher fell too far behind and was cut off.
        self.overflowed = False

    def wants(self, event: Event) -> bool:
        return (
            event.tenant == self.tenant_id
            and (self.types is None or event.type in self.types)
            and (self.subjects is None or event.subject in self.subjects)
            and (self.matching is None or self.matching(event))
        )

    def watch_subject(self, subject: str) -> None:
        if self.subjects is not None:
            self.subjects.add(subject)

    def unwatch_subject(self, subject: str) -> None:
        if self.subjects is not None:
            self.subjects.discard(subject)

    def _offer(self, event: Event) -> None:
        if self.closed:
            return
        if self._queue.qsize() >= self._max_queue:
            self.overflowed = True
            self.close()
            return
        self._queue.put_nowait(event)

    def close(self) -> None:
        """Stop watching; an iteration in progress ends once it has taken the events already queued."""
        if self.closed:
            return
        self.closed = True
        self._feed._forget(self)
        self._queue.put_nowait(None)

    async def next(self, timeout_s: float | None = None) -> Event | None:
        """Return the next event, or None once closed (or after ``timeout_s`` with nothing new)."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout_s)
        except TimeoutError:
            return None
        if item is None:
            self._queue.put_nowait(None)  # every later call sees the end too
        return item

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self.next()
            if event is None:
                return
            yield event

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class LiveFeed:
    """Fans committed events out to the live subscriptions of this process."""

    def __init__(self, *, nats_url: str | None = None, prefix: str = "CXSTACK") -> None:
        """``nats_url``: read the events of every process from the broker (scale-out driver)."""
        self.nats_url = nats_url
        self.prefix = prefix
        self._watchers: set[LiveSubscription] = set()
        self._connection: Any = None
        #: True once the broker subscription is in place (scale-out driver).
        self.listening = asyncio.Event()

    def subscribe(
        self,
        *,
        tenant_id: str,
        types: Collection[str] | None = None,
        subjects: Collection[str] | None = None,
        max_queue: int = DEFAULT_QUEUE,
        matching: Callable[[Event], bool] | None = None,
    ) -> LiveSubscription:
        """Start watching the events of ``tenant_id`` committed from now on (only ``types`` and
        ``subjects`` when given, and only those ``matching`` says yes to)."""
        watch = LiveSubscription(
            self,
            tenant_id=tenant_id,
            types=types,
            subjects=subjects,
            max_queue=max_queue,
            matching=matching,
        )
        self._watchers.add(watch)
        return watch

    def publish(self, events: Iterable[Event]) -> None:
        """Hand committed events to every watcher that wants them (on the event loop)."""
        if not self._watchers:
            return
        for event in events:
            for watch in list(self._watchers):
                if watch.wants(event):
                    watch._offer(event)

    async def signal(
        self, *, tenant_id: str, subject: str, type: str, data: dict[str, Any], source: str = "cxstack"
    ) -> Event:
        """Offer an ephemeral event (never stored, no log position: ``seq`` 0) to the watchers of every
        ``serve`` process that want it; return it. Raises ValueError for a tenant id that cannot name a
        NATS subject token (letters, digits, '_' and '-')."""
        if not _TOKEN.match(tenant_id):
            raise ValueError(f"a signal's tenant id is letters, digits, '_' or '-', got {tenant_id!r}")
        ident = new_ulid()
        event = Event(
            id=ident,
            type=type,
            source=source,
            subject=subject,
            time=datetime.now(UTC),
            tenant=tenant_id,
            data=data,
            dataschema="",
            correlationid=ident,
        )
        connection = self._connection
        if connection is None:
            self.publish([event])
            return event
        body = {
            "id": event.id,
            "type": type,
            "source": source,
            "subject": subject,
            "time": event.time.isoformat(),
            "tenant": tenant_id,
            "data": data,
        }
        try:
            await connection.publish(f"{self.prefix}.signals.{tenant_id}", orjson.dumps(body))
        except Exception as error:  # best effort: a signal the broker cannot take now is dropped
            log.warning("signal not published", type=type, tenant=tenant_id, error=str(error))
        return event

    def _forget(self, watch: LiveSubscription) -> None:
        self._watchers.discard(watch)

    @property
    def watchers(self) -> int:
        return len(self._watchers)

    async def start(self) -> None:
        if self.nats_url is None or self._connection is not None:
            return
        import nats

        self._connection = await nats.connect(self.nats_url, max_reconnect_attempts=-1)
        await self._connection.subscribe(f"{self.prefix}.events.>", cb=self._received)
        await self._connection.subscribe(f"{self.prefix}.signals.*", cb=self._signalled)
        await self._connection.flush()
        self.listening.set()

    async def stop(self) -> None:
        for watch in list(self._watchers):
            watch.close()
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.drain()
            self._connection = None
        self.listening.clear()

    async def _received(self, message: Any) -> None:
        try:
            event = event_from_broker(message.subject, message.data)
        except (ValueError, KeyError, TypeError) as error:
            log.warning("unreadable event on the broker", subject=message.subject, error=str(error))
            return
        self.publish([event])

    async def _signalled(self, message: Any) -> None:
        try:
            event = signal_from_broker(message.data)
        except (ValueError, KeyError, TypeError) as error:
            log.warning("unreadable signal on the broker", subject=message.subject, error=str(error))
            return
        self.publish([event])


def signal_from_broker(body: bytes) -> Event:
    """Read a signal another process published with ``LiveFeed.signal``."""
    raw = orjson.loads(body)
    if not isinstance(raw.get("data"), dict):
        raise TypeError("a signal's data is an object")
    return Event(
        id=raw["id"],
        type=raw["type"],
        source=raw["source"],
        subject=raw["subject"],
        time=datetime.fromisoformat(raw["time"]),
        tenant=raw["tenant"],
        data=raw["data"],
        dataschema="",
        correlationid=raw["id"],
    )


def event_from_broker(subject: str, body: bytes) -> Event:
    """Read an event the relay published: structured CloudEvents JSON on the subject
    ``<prefix>.events.<partition>.<type>``."""
    cloud = orjson.loads(body)
    parts = subject.split(".")
    return Event(
        id=cloud["id"],
        type=cloud["type"],
        source=cloud["source"],
        subject=cloud["subject"],
        time=datetime.fromisoformat(cloud["time"].replace("Z", "+00:00")),
        tenant=cloud["tenant"],
        data=cloud["data"],
        dataschema=cloud["dataschema"],
        correlationid=cloud["correlationid"],
        causationid=cloud.get("causationid"),
        actor=cloud.get("actor"),
        seq=int(cloud.get("sequence", 0)),
        partition=int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else 0,
    )
