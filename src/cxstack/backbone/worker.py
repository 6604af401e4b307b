"""A scale-out worker: partition leases, the bus over the leased partitions, timers, and broker wake-ups.

Any number of workers share the subscriptions: each holds a fair share of (subscription, partition) leases
(``cxstack.backbone.leases``) and delivers only those. Every worker fires due timers; timers are claimed with
``FOR UPDATE SKIP LOCKED``, so each fires once.

Wake-ups come from NATS JetStream. Each worker reads the event stream through an ephemeral, ordered push
consumer of its own: deliver-new, no acknowledgements, headers only. The stream is fanned out, not shared
like a work queue, because which worker handles a partition is decided by the leases, not by the broker;
each message only says "partition p has a new event of type t", and wakes the subscriptions of that type
if this worker holds p. No acknowledgements and no durable consumer state are needed because the message
is not the work: the log is. A consumer of a worker that dies is removed by the server once inactive, and
the worker's bus still reads the log every ``idle_poll_s``, so whatever the broker drops (or a broker that
is down) delays a delivery by at most that long and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from cxstack.backbone.consumer import Bus
from cxstack.backbone.database import Database
from cxstack.backbone.delivery import RetryPolicy
from cxstack.backbone.leases import DEFAULT_LEASE_S, LeaseManager
from cxstack.backbone.relay import DEFAULT_PREFIX, connect_broker, ensure_stream, parse_event_subject
from cxstack.backbone.subscriptions import SubscriptionRegistry

log = structlog.get_logger("cxstack.worker")


class BrokerWakeUps:
    """Turns each message of the event stream into ``bus.wake_for(partition, type)``; connects in the
    background and keeps trying while the broker is unreachable."""

    def __init__(
        self, bus: Bus, *, nats_url: str, prefix: str = DEFAULT_PREFIX, retry_s: float = 1.0
    ) -> None:
        self.bus = bus
        self.nats_url = nats_url
        self.prefix = prefix
        self.retry_s = retry_s
        #: True once the consumer is subscribed.
        self.subscribed = asyncio.Event()
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="worker:wake-ups")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
            self._client = None
        self.subscribed.clear()

    async def _connect(self) -> None:
        while True:
            try:
                client = await connect_broker(self.nats_url, name="cxstack-worker")
            except Exception as error:
                log.warning("broker unreachable; polling the log meanwhile", error=repr(error))
                await asyncio.sleep(self.retry_s)
                continue
            self._client = client
            try:
                js = client.jetstream()
                stream = await ensure_stream(js, self.prefix)
                await js.subscribe(
                    f"{self.prefix}.events.>",
                    stream=stream,
                    cb=self._on_message,
                    ordered_consumer=True,
                    deliver_policy=DeliverPolicy.NEW,
                    headers_only=True,
                )
            except Exception as error:
                log.warning("subscribing to the event stream failed; trying again", error=repr(error))
                self._client = None
                with contextlib.suppress(Exception):
                    await client.close()
                await asyncio.sleep(self.retry_s)
                continue
            self.subscribed.set()
            return

    async def _on_message(self, message: Msg) -> None:
        parsed = parse_event_subject(self.prefix, message.subject)
        if parsed is not None:
            self.bus.wake_for(*parsed)


class Worker:
    """Leases, the bus over the leased partitions (with timers), and wake-ups from the broker."""

    def __init__(
        self,
        db: Database,
        registry: SubscriptionRegistry,
        *,
        policy: RetryPolicy,
        nats_url: str | None,
        prefix: str = DEFAULT_PREFIX,
        lease_s: float = DEFAULT_LEASE_S,
        renew_s: float | None = None,
        batch_size: int = 500,
        idle_poll_s: float = 1.0,
        timer_poll_s: float = 0.5,
        worker_id: str | None = None,
    ) -> None:
        """Without ``nats_url`` the worker relies on polling the log every ``idle_poll_s`` alone. ``lease_s``
        and ``renew_s``: see ``LeaseManager``."""
        self.db = db
        self.leases = LeaseManager(
            db,
            [subscription.name for subscription in registry],
            worker_id=worker_id,
            lease_s=lease_s,
            renew_s=renew_s,
            on_change=self._wake_all,
        )
        self.bus = Bus(
            db,
            registry,
            policy=policy,
            batch_size=batch_size,
            idle_poll_s=idle_poll_s,
            timer_poll_s=timer_poll_s,
            partitions=self.leases.partitions_of,
            owner=self.leases.worker_id,
        )
        self.wake_ups = (
            None if nats_url is None else BrokerWakeUps(self.bus, nats_url=nats_url, prefix=prefix)
        )

    @property
    def worker_id(self) -> str:
        return self.leases.worker_id

    def _wake_all(self) -> None:
        self.bus.wake_all()

    async def start(self) -> None:
        """Claim a share of the partitions, then deliver and fire timers until stopped."""
        await self.leases.start()
        await self.bus.start()
        if self.wake_ups is not None:
            await self.wake_ups.start()

    async def stop(self, *, release: bool = True) -> None:
        """Stop delivering; with ``release`` hand the leases back at once, else let them lapse."""
        if self.wake_ups is not None:
            await self.wake_ups.stop()
        await self.bus.stop()
        await self.leases.stop(release=release)
