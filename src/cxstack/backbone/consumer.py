"""The running side of the bus: tasks that deliver the log to subscriptions and fire timers.

The same tasks serve both drivers. What differs is what wakes them (a commit in this process, or a message
from NATS JetStream) and which log partitions they own (all of them on the embedded driver; a leased share
on the scale-out driver, see ``cxstack.backbone.leases``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Sequence
from datetime import timedelta

import structlog

from cxstack.backbone.database import Database
from cxstack.backbone.delivery import (
    RetryPolicy,
    deliver_round,
    prune_processed,
    retry_due_deliveries,
    with_due_retries,
)
from cxstack.backbone.envelope import Event
from cxstack.backbone.subscriptions import Subscription, SubscriptionRegistry
from cxstack.backbone.timers import fire_due_timers
from cxstack.backbone.unit_of_work import Context, UnitOfWork

#: How often a subscription's delivery round also prunes the handled ids no delivery can ask about again.
PRUNE_INTERVAL_S = 60.0
#: How long a handled event's id is kept at least (what was handled when can be looked up meanwhile).
KEEP_PROCESSED_S = 3600.0

log = structlog.get_logger("cxstack.bus")

#: Returns the partitions of a subscription this process may deliver right now.
PartitionSource = Callable[[Subscription], Collection[int]]


class Waker:
    """Wakes every waiting consumer task; safe to call from the event loop only."""

    def __init__(self) -> None:
        self._events: list[asyncio.Event] = []

    def channel(self) -> asyncio.Event:
        signal = asyncio.Event()
        self._events.append(signal)
        return signal

    def wake(self) -> None:
        for signal in self._events:
            signal.set()


class Bus:
    """Delivers every registered subscription and fires timers until stopped.

    One task delivers them all, in rounds: a round reads the log once for every subscription it
    concerns and commits all of their handlers' effects, handled ids and positions in one transaction
    (see ``cxstack.backbone.delivery.deliver_round``), so that adding a subscription costs its handler's
    work, not another read and write of the log per event.
    """

    def __init__(
        self,
        db: Database,
        registry: SubscriptionRegistry,
        *,
        policy: RetryPolicy,
        batch_size: int = 500,
        idle_poll_s: float = 1.0,
        round_gap_s: float = 0.0,
        timer_poll_s: float = 0.5,
        partitions: PartitionSource | None = None,
        owner: str | None = None,
        run_timers: bool = True,
        prune_interval_s: float = PRUNE_INTERVAL_S,
        keep_processed_s: float = KEEP_PROCESSED_S,
    ) -> None:
        """``partitions`` and ``owner`` come from partition leases on the scale-out driver: deliveries
        then advance only positions ``owner`` still holds (see ``cxstack.backbone.leases``). Every
        ``prune_interval_s`` a round also forgets the handled ids no delivery can ask about again, once
        they are ``keep_processed_s`` old (kept that long for inspection)."""
        self.db = db
        self.registry = registry
        self.policy = policy
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        self.round_gap_s = round_gap_s
        self.timer_poll_s = timer_poll_s
        self.run_timers = run_timers
        all_partitions = range(db.partitions)
        self._partitions: PartitionSource = partitions or (lambda _subscription: all_partitions)
        self.owner = owner
        self.prune_interval_s = prune_interval_s
        self.keep_processed_s = keep_processed_s
        self._pruned_at: dict[str, float] = {}
        self.waker = Waker()
        self._signal: asyncio.Event | None = None
        #: Subscriptions a commit concerned since the delivery task last looked; None: every one.
        self._woken: set[str] | None = set()
        self._by_type: dict[str, list[Subscription]] = {}
        for subscription in registry:
            for event_type in subscription.types:
                self._by_type.setdefault(event_type, []).append(subscription)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self._stopping.clear()  # a bus stopped before may start again
        # Only the subscriptions a commit's events concern take part in the round it wakes.
        self.db.add_event_listener(self._committed)
        if len(self.registry):
            self._tasks.append(asyncio.create_task(self._deliver_forever(), name="bus:deliveries"))
        if self.run_timers:
            self._tasks.append(asyncio.create_task(self._timers_forever(), name="bus:timers"))

    async def stop(self) -> None:
        self._stopping.set()
        self.waker.wake()
        self.db.remove_event_listener(self._committed)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._signal = None

    def _committed(self, events: list[Event]) -> None:
        for event in events:
            self.wake_for(event.partition, event.type)

    def wake_for(self, partition: int, event_type: str) -> None:
        """Wake the subscriptions that handle ``event_type`` and may deliver ``partition`` now."""
        for subscription in self._by_type.get(event_type, ()):
            if partition in self._partitions(subscription):
                if self._woken is not None:
                    self._woken.add(subscription.name)
                if self._signal is not None:
                    self._signal.set()

    def wake_all(self) -> None:
        """Make the next round deliver every subscription (their partitions changed, say)."""
        self._woken = None
        self.waker.wake()

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Deliver until every subscription has read the whole log (for tests and the CLI)."""
        async with asyncio.timeout(timeout_s):
            while await self.deliver_round(list(self.registry)) > 0:
                pass

    async def deliver_once(self, subscription: Subscription) -> int:
        """Deliver one batch and any due retries of ``subscription``; return how many events were read."""
        return await self.deliver_round([subscription])

    async def deliver_round(self, subscriptions: Sequence[Subscription]) -> int:
        """Deliver one batch and any due retries of each of ``subscriptions`` in one transaction, reading
        the log once for all of them; return how many events were read."""
        owned = [(subscription, list(self._partitions(subscription))) for subscription in subscriptions]
        owned = [(subscription, partitions) for subscription, partitions in owned if partitions]
        if not owned:
            return 0
        names = ",".join(subscription.name for subscription, _ in owned)
        context = Context(actor=f"subscription:{names}"[:200])

        now = time.monotonic()
        prune = []
        for subscription, _ in owned:
            last = self._pruned_at.get(subscription.name, now - self.prune_interval_s)
            if now - last >= self.prune_interval_s:
                self._pruned_at[subscription.name] = now
                prune.append(subscription)

        def deliver(uow: UnitOfWork) -> int:
            if prune:
                kept_since = uow.clock.now() - timedelta(seconds=self.keep_processed_s)
                for subscription in prune:
                    prune_processed(uow, subscription=subscription, processed_before=kept_since)
            read = deliver_round(
                uow, subscriptions=owned, batch_size=self.batch_size, policy=self.policy, owner=self.owner
            )
            due = with_due_retries(uow, [subscription.name for subscription, _ in owned])
            for subscription, partitions in owned:
                if subscription.name in due:
                    retry_due_deliveries(
                        uow,
                        subscription=subscription,
                        partitions=partitions,
                        policy=self.policy,
                        owner=self.owner,
                    )
            return read

        # One transaction a round: every subscription's new events and due retries commit together.
        read = await self.db.write(deliver, context=context, background=True)
        return read

    async def _deliver_forever(self) -> None:
        signal = self.waker.channel()
        self._signal = signal
        self._woken = None  # the first round looks at every subscription
        while not self._stopping.is_set():
            signal.clear()
            woken: set[str] | None = self._woken
            self._woken = set()
            chosen = list(self.registry) if woken is None else [s for s in self.registry if s.name in woken]
            try:
                read = await self.deliver_round(chosen)
            except Exception:
                log.exception("delivery round failed", subscriptions=[s.name for s in chosen])
                read = 0
                self._woken = None  # try them all again
                await asyncio.sleep(self.idle_poll_s)
            if read >= self.batch_size:
                # More to read: the same subscriptions go again at once, with any woken meanwhile.
                if self._woken is not None:
                    self._woken.update(s.name for s in chosen)
                continue
            if read and self.round_gap_s:
                # The commits that land meanwhile are read together in the next round: one round per
                # commit costs the writer more per event (measured with the pipeline benchmark).
                await asyncio.sleep(self.round_gap_s)
            try:
                await asyncio.wait_for(signal.wait(), self.idle_poll_s)
            except TimeoutError:
                # Nothing woke it: look at every subscription (what a missed wake-up left behind, due
                # retries).
                self._woken = None

    async def _timers_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                fired = await self.db.write(fire_due_timers, context=Context(actor="timer"), background=True)
            except Exception:
                log.exception("timer round failed")
                fired = 0
            if fired:
                continue
            await asyncio.sleep(self.timer_poll_s)
