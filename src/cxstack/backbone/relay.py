"""The relay: publishes the committed event log to NATS JetStream (scale-out driver).

The event log in PostgreSQL is the record and the outbox; the stream is transport. The relay reads the log
after its ``relay_positions`` row, in log order (which is commit order, see ``EVENT_LOG_LOCK_KEY``), and
publishes each event to ``<prefix>.events.<partition>.<event type>`` in the stream ``<prefix>_EVENTS``: the
structured CloudEvent JSON as payload and the event id as ``Nats-Msg-Id``, so JetStream drops a second copy
of an event published again within its duplicate window. The position advances only after JetStream has
acknowledged every event up to it, so a relay that dies re-publishes at most its last unacknowledged batch,
and the duplicate window absorbs that.

One relay publishes at a time: it holds a session-level PostgreSQL advisory lock on a connection of its
own, and advances its position on that same connection, so a relay that has lost its connection (and with
it the lock) can no longer move the position. Every other relay process waits for the lock and takes over
when the holder dies.

Durability: JetStream acknowledges a message before it is flushed to disk unless the server runs with
``sync_interval: always`` in its ``jetstream`` block, and acknowledged messages have been lost on power
failure without it. Deployments should set it. Even so the broker is never the only copy: workers treat a
message as a signal to read the log, and poll the log periodically, so whatever the broker loses is read
from the database anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import zlib
from typing import Any

import asyncpg
import nats
import orjson
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from cxstack.backbone.database import Database
from cxstack.backbone.envelope import Event

log = structlog.get_logger("cxstack.relay")

DEFAULT_PREFIX = "CXSTACK"
#: JetStream drops a message whose ``Nats-Msg-Id`` it has stored within this window.
DUPLICATE_WINDOW_S = 120.0
#: The stream is transport, not the record: it keeps a day of events for late readers.
STREAM_MAX_AGE_S = 24 * 3600.0
_PREFIX = re.compile(r"[A-Za-z0-9_-]+")
_RELAY_LOCK_NAMESPACE = 0x63787372  # "cxsr"
_READ_LOG = (
    "SELECT seq, id, tenant_id, type, source, subject, partition, time, dataschema, correlation_id, "
    "causation_id, actor, data::text AS data FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"
)


def _checked(prefix: str) -> str:
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"stream prefix must be letters, digits, '_' or '-', got {prefix!r}")
    return prefix


def stream_name(prefix: str = DEFAULT_PREFIX) -> str:
    """Return the JetStream stream that carries the event log under ``prefix`` (``CXSTACK_EVENTS``)."""
    return f"{_checked(prefix)}_EVENTS"


def event_subject(prefix: str, partition: int, event_type: str) -> str:
    """Return the NATS subject an event of ``event_type`` in log ``partition`` is published on."""
    return f"{_checked(prefix)}.events.{partition}.{event_type}"


def parse_event_subject(prefix: str, subject: str) -> tuple[int, str] | None:
    """Return ``(partition, event type)`` of an event subject under ``prefix``, None for any other subject."""
    head = f"{prefix}.events."
    if not subject.startswith(head):
        return None
    partition, _, event_type = subject[len(head) :].partition(".")
    if not partition.isdigit() or not event_type:
        return None
    return int(partition), event_type


async def ensure_stream(js: JetStreamContext, prefix: str = DEFAULT_PREFIX) -> str:
    """Create the event stream of ``prefix`` unless it exists (file storage); return its name."""
    name = stream_name(prefix)
    try:
        await js.stream_info(name)
    except NotFoundError:
        config = StreamConfig(
            name=name,
            description="cxstack event log (transport; the database is the record)",
            subjects=[f"{prefix}.events.>"],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            max_age=STREAM_MAX_AGE_S,
            duplicate_window=DUPLICATE_WINDOW_S,
        )
        try:
            await js.add_stream(config)
        except Exception:
            # Another process may have created it in the meantime; if not, this raises again.
            await js.stream_info(name)
    return name


async def _log_broker_error(error: Exception) -> None:
    log.warning("broker connection error", error=repr(error))


async def connect_broker(url: str, *, name: str) -> Client:
    """Connect to NATS; raise at once if it does not answer, and once connected reconnect for ever.

    (A client told to reconnect for ever would also retry its first connection for ever, so a first one
    that may fail checks that the server answers.)
    """
    probe = await nats.connect(url, name=name, allow_reconnect=False, error_cb=_log_broker_error)
    await probe.close()
    return await nats.connect(url, name=name, max_reconnect_attempts=-1, error_cb=_log_broker_error)


def asyncpg_dsn(url: str) -> str:
    """Return the libpq-style URL asyncpg connects with, from a cxstack or SQLAlchemy PostgreSQL URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith(("postgresql", "postgres")):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return f"postgresql://{rest}"


class Relay:
    """Publishes the committed log to JetStream while it holds the relay lock; waits for it otherwise."""

    def __init__(
        self,
        db: Database,
        *,
        nats_url: str,
        prefix: str = DEFAULT_PREFIX,
        batch_size: int = 500,
        poll_s: float = 0.1,
        retry_s: float = 1.0,
        ack_timeout_s: float = 10.0,
    ) -> None:
        if db.driver != "postgresql":
            raise ValueError("the relay runs on the scale-out driver (PostgreSQL) only")
        self.db = db
        self.nats_url = nats_url
        self.prefix = _checked(prefix)
        self.stream = stream_name(prefix)
        #: The ``relay_positions`` row of this stream.
        self.name = f"nats:{self.stream}"
        self.lock_key = _RELAY_LOCK_NAMESPACE << 32 | zlib.crc32(self.stream.encode())
        self.batch_size = batch_size
        self.poll_s = poll_s
        self.retry_s = retry_s
        self.ack_timeout_s = ack_timeout_s
        #: True while this relay holds the lock and publishes.
        self.active = False
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start relaying in the background; returns at once (the broker may still be unreachable)."""
        self._stopping.clear()
        self.db.add_commit_listener(self._wake.set)
        self._task = asyncio.create_task(self._run(), name=f"relay:{self.stream}")

    async def stop(self) -> None:
        """Stop relaying and give the lock back, so another process takes over at once."""
        self._stopping.set()
        self._wake.set()
        self.db.remove_commit_listener(self._wake.set)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._relay_while_holding_lock()
            except Exception as error:
                unreachable = isinstance(error, OSError | nats.errors.Error)
                log.warning(
                    "relay interrupted; starting again",
                    stream=self.stream,
                    error=repr(error),
                    exc_info=not unreachable,
                )
                await self._pause(self.retry_s)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _relay_while_holding_lock(self) -> None:
        # The broker first: a process that cannot reach it must not keep the lock from one that can.
        nc = await connect_broker(self.nats_url, name=f"cxstack-relay:{self.stream}")
        try:
            lock = await asyncpg.connect(asyncpg_dsn(self.db.url))
            try:
                while not await lock.fetchval("SELECT pg_try_advisory_lock($1)", self.lock_key):
                    await self._pause(self.retry_s)  # another process relays; take over if it dies
                    if self._stopping.is_set():
                        return
                js = nc.jetstream()
                await ensure_stream(js, self.prefix)
                position = await self._load_position(lock)
                self.active = True
                log.info("relaying", stream=self.stream, position=position)
                await self._relay(js, lock, position)
            finally:
                self.active = False
                # Closing the session releases the advisory lock.
                with contextlib.suppress(Exception):
                    await lock.close()
        finally:
            with contextlib.suppress(Exception):
                await nc.close()

    async def _load_position(self, lock: asyncpg.Connection[Any]) -> int:
        await lock.execute(
            "INSERT INTO relay_positions (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
            self.name,
        )
        position: int = await lock.fetchval("SELECT position FROM relay_positions WHERE name = $1", self.name)
        return position

    async def _relay(self, js: JetStreamContext, lock: asyncpg.Connection[Any], position: int) -> None:
        while not self._stopping.is_set():
            if lock.is_closed():
                raise ConnectionError("the relay lock's database connection closed")
            self._wake.clear()
            events = await self._read(lock, position)
            if not events:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
                continue
            acknowledged = await self._publish(js, events)
            if acknowledged:
                position = events[acknowledged - 1].seq
                # On the lock's own connection: a relay that lost its lock cannot advance the position.
                await lock.execute(
                    "UPDATE relay_positions SET position = GREATEST(position, $2) WHERE name = $1",
                    self.name,
                    position,
                )
            if acknowledged < len(events):
                log.warning(
                    "broker did not acknowledge every event; publishing again",
                    stream=self.stream,
                    unacknowledged=len(events) - acknowledged,
                )
                await self._pause(self.retry_s)

    async def _read(self, lock: asyncpg.Connection[Any], after: int) -> list[Event]:
        """Read the next batch of the log on the lock's connection (lighter than an ORM session)."""
        rows = await lock.fetch(_READ_LOG, after, self.batch_size)
        return [
            Event(
                id=row["id"],
                type=row["type"],
                source=row["source"],
                subject=row["subject"],
                time=row["time"],
                tenant=row["tenant_id"],
                data=orjson.loads(row["data"]),
                dataschema=row["dataschema"],
                correlationid=row["correlation_id"],
                causationid=row["causation_id"],
                actor=row["actor"],
                seq=row["seq"],
                partition=row["partition"],
            )
            for row in rows
        ]

    async def _publish(self, js: JetStreamContext, events: list[Event]) -> int:
        """Publish ``events`` in order; return how many of them, from the first, JetStream acknowledged."""
        acks: list[asyncio.Future[Any]] = []
        try:
            for event in events:
                # Each publish is written to the connection before the next, so the stream keeps log order.
                acks.append(
                    await js.publish_async(
                        event_subject(self.prefix, event.partition, event.type),
                        event.to_json(),
                        headers={"Nats-Msg-Id": event.id},
                        stream=self.stream,
                    )
                )
        except Exception:
            log.exception("publishing to the broker failed", stream=self.stream)
        if acks:
            await asyncio.wait(acks, timeout=self.ack_timeout_s)
        acknowledged = 0
        counting = True
        for ack in acks:
            if not ack.done():
                ack.cancel()
                counting = False
            elif ack.cancelled() or ack.exception() is not None:
                counting = False
            elif counting:
                acknowledged += 1
        return acknowledged
