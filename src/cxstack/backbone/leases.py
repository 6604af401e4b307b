"""Partition leases: how ``cxstack worker`` processes share subscriptions' log partitions (scale-out driver).

Each worker keeps a ``bus_workers`` row alive with a heartbeat. Every (subscription, partition) row of
``subscription_positions`` belongs to at most one worker at a time (``owner``, ``lease_expires_at``).
Every second (a sixth of the lease) each worker, in one transaction:

- heartbeats, and counts the live workers (those that heartbeat within one lease);
- renews the leases it holds (waiting for its own deliveries of them to commit);
- gives back what it holds beyond its fair share, ceil(rows / live workers), so that a new worker finds
  work to claim;
- claims free or expired rows with ``FOR UPDATE SKIP LOCKED`` up to its fair share, so workers never wait
  on each other.

Between those rounds a worker looks, without locking anything, every ``watch_s`` (a quarter of a second)
whether its share has changed: rows free or expired while it holds less than its share (a worker stopped
or died), or more than its share held (a worker started). If so it runs a round at once.

A worker that stops cleanly (SIGTERM, Ctrl-C) gives its rows back and unregisters at once, so the others
take its partitions over within one look. One that dies stops renewing, and when its leases expire the
others take its partitions over, reading on from the position it last committed. Ownership is checked
again where it matters: a delivery advances a position only under a row lock with ``owner`` equal to its
worker (``deliver_round(owner=...)``), so a worker whose lease was taken over cannot deliver that partition
a second time. Lease times are the database's ``now()``, so workers' clocks need not agree.

Time scales, with a lease of L seconds (6 by default) renewed every L/6: a new worker gets its share within
about two looks; a cleanly stopped worker's partitions are taken over within one look (``watch_s``) of its
leaving; a dead worker's between L - L/6 and L + ``watch_s`` after it died. A shorter lease hands a dead
worker's partitions over sooner, and makes a worker that cannot reach the database for longer than L lose
them (harmless: it delivers nothing it no longer owns).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import time
from collections.abc import Callable, Iterable
from datetime import timedelta

import structlog
from sqlalchemy import delete, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from cxstack.backbone.database import Database
from cxstack.backbone.models import BusWorker, SubscriptionPosition
from cxstack.backbone.subscriptions import Subscription
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.kit.ids import new_ulid

log = structlog.get_logger("cxstack.leases")

#: A worker row silent for this many leases is deleted (its partitions were taken over long before).
FORGET_AFTER_LEASES = 20
#: How long a lease lasts without renewal, by default; renewed every ``RENEWALS_PER_LEASE``-th of it.
DEFAULT_LEASE_S = 6.0
RENEWALS_PER_LEASE = 6
#: How often a worker looks, between renewals, whether leases wait to be claimed or given back.
DEFAULT_WATCH_S = 0.25

Lease = tuple[str, int]


def new_worker_id() -> str:
    """Return an id naming this process (host and pid) that no other worker has used."""
    return f"{socket.gethostname()[:48]}:{os.getpid()}:{new_ulid()[-10:]}"


def fair_share(total: int, live_workers: int) -> int:
    """Return how many of ``total`` leases one of ``live_workers`` workers should hold."""
    return math.ceil(total / max(1, live_workers))


class LeaseManager:
    """Holds this worker's fair share of subscriptions' partitions and tells the bus which they are."""

    def __init__(
        self,
        db: Database,
        subscriptions: Iterable[str],
        *,
        worker_id: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
        renew_s: float | None = None,
        watch_s: float | None = DEFAULT_WATCH_S,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        """``renew_s``: how often the leases are renewed (default ``lease_s / RENEWALS_PER_LEASE``);
        ``watch_s``: how often to look between renewals for leases to claim or give back (None: never)."""
        if db.driver != "postgresql":
            raise ValueError("partition leases are for the scale-out driver (PostgreSQL) only")
        self.db = db
        self.subscriptions = sorted(set(subscriptions))
        self.worker_id = worker_id or new_worker_id()
        self.lease_s = lease_s
        self.renew_s = renew_s if renew_s is not None else lease_s / RENEWALS_PER_LEASE
        self.watch_s = watch_s
        self.on_change = on_change
        self._held: dict[str, frozenset[int]] = {}
        self._task: asyncio.Task[None] | None = None

    # -- what the bus asks -----------------------------------------------------------------------

    def partitions_of(self, subscription: Subscription) -> frozenset[int]:
        """Return the partitions of ``subscription`` this worker held at its last balancing round."""
        return self._held.get(subscription.name, frozenset())

    @property
    def held(self) -> set[Lease]:
        """Every (subscription, partition) this worker held at its last balancing round."""
        return {(name, partition) for name, partitions in self._held.items() for partition in partitions}

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Register this worker, claim a first share, and keep balancing in the background."""
        await self.db.write(self._create_rows, context=self._context())
        await self.balance()
        self._task = asyncio.create_task(self._balance_forever(), name=f"leases:{self.worker_id}")

    async def stop(self, *, release: bool = True) -> None:
        """Stop balancing; with ``release`` give every lease back and unregister at once.

        Stop the bus first, so that no delivery of this worker is still running. Without ``release`` the
        leases lapse after ``lease_s`` as if the process had died.
        """
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if release:
            await self.db.write(self._release_all, context=self._context())
        self._held = {}

    async def balance(self) -> None:
        """Run one balancing round now: heartbeat, renew, give back the surplus, claim the shortfall."""
        before = self._held
        held = await self.db.write(self._balance, context=self._context())
        grouped: dict[str, set[int]] = {}
        for name, partition in held:
            grouped.setdefault(name, set()).add(partition)
        self._held = {name: frozenset(partitions) for name, partitions in grouped.items()}
        if self._held != before:
            log.info("leases changed", worker=self.worker_id, held=len(held))
            if self.on_change is not None:
                self.on_change()

    async def _balance_forever(self) -> None:
        renew_at = time.monotonic() + self.renew_s
        while True:
            wait = renew_at - time.monotonic()
            if self.watch_s is not None:
                wait = min(wait, self.watch_s)
            await asyncio.sleep(max(0.0, wait))
            try:
                if time.monotonic() < renew_at and not await self._share_changed():
                    continue
                renew_at = time.monotonic() + self.renew_s
                await self.balance()
            except Exception:
                # Leases lapse if this goes on; deliveries check ownership, so nothing runs twice.
                log.exception("lease balancing failed", worker=self.worker_id)

    async def _share_changed(self) -> bool:
        """Look, without locking, whether a balancing round would change what this worker holds: leases
        free or expired while it holds less than its fair share, or more than its share held."""
        lease = timedelta(seconds=self.lease_s)
        position = SubscriptionPosition
        now = func.now()
        live_workers = (
            select(func.count()).select_from(BusWorker).where(BusWorker.heartbeat_at > now - lease)
        ).scalar_subquery()
        free_rows = (
            select(func.count())
            .select_from(position)
            .where(
                position.subscription.in_(self.subscriptions),
                or_(position.owner.is_(None), position.lease_expires_at < now),
            )
        ).scalar_subquery()

        def look(session: Session) -> tuple[int, int]:
            live, free = session.execute(select(live_workers, free_rows)).one()
            return int(live or 0), int(free or 0)

        live, free = await self.db.read(look)
        held = sum(len(partitions) for partitions in self._held.values())
        share = fair_share(len(self.subscriptions) * self.db.partitions, max(1, live))
        return held > share or (free > 0 and held < share)

    def _context(self) -> Context:
        return Context(actor=f"worker:{self.worker_id}")

    # -- the transactions ------------------------------------------------------------------------

    def _create_rows(self, uow: UnitOfWork) -> None:
        rows = [
            {"subscription": name, "partition": partition, "position": 0}
            for name in self.subscriptions
            for partition in range(self.db.partitions)
        ]
        if rows:
            uow.session.execute(insert(SubscriptionPosition).values(rows).on_conflict_do_nothing())

    def _balance(self, uow: UnitOfWork) -> set[Lease]:
        session = uow.session
        now = func.now()
        lease = timedelta(seconds=self.lease_s)
        live = self._heartbeat(session, lease)
        position = SubscriptionPosition
        ours = position.subscription.in_(self.subscriptions)
        # Waits for this worker's own deliveries, which lock the same rows in the same (key) order; never
        # for another worker's, which hold other rows.
        held: list[Lease] = [
            (name, partition)
            for name, partition in session.execute(
                select(position.subscription, position.partition)
                .where(ours, position.owner == self.worker_id)
                .order_by(position.subscription, position.partition)
                .with_for_update()
            )
        ]
        if held:
            session.execute(
                update(position)
                .where(tuple_(position.subscription, position.partition).in_(held))
                .values(lease_expires_at=now + lease)
                .execution_options(synchronize_session=False)
            )
        share = fair_share(len(self.subscriptions) * self.db.partitions, live)
        if len(held) > share:
            # Give back the highest partitions; claims take the lowest free ones first.
            surplus = sorted(held, key=lambda row: (row[1], row[0]))[share:]
            session.execute(
                update(position)
                .where(tuple_(position.subscription, position.partition).in_(surplus))
                .values(owner=None, lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )
            return set(held) - set(surplus)
        if len(held) < share:
            # Another worker's rows are never waited for: a locked one is busy, so not free anyway.
            free = session.execute(
                select(position.subscription, position.partition)
                .where(ours, or_(position.owner.is_(None), position.lease_expires_at < now))
                .order_by(position.partition, position.subscription)
                .limit(share - len(held))
                .with_for_update(skip_locked=True)
            ).all()
            claimed = [(name, partition) for name, partition in free]
            if claimed:
                session.execute(
                    update(position)
                    .where(tuple_(position.subscription, position.partition).in_(claimed))
                    .values(owner=self.worker_id, lease_expires_at=now + lease)
                    .execution_options(synchronize_session=False)
                )
            return set(held) | set(claimed)
        return set(held)

    def _heartbeat(self, session: Session, lease: timedelta) -> int:
        """Record that this worker lives; return how many workers live (this one included)."""
        now = func.now()
        session.execute(
            insert(BusWorker)
            .values(id=self.worker_id, started_at=now, heartbeat_at=now)
            .on_conflict_do_update(index_elements=[BusWorker.id], set_={"heartbeat_at": now})
        )
        session.execute(delete(BusWorker).where(BusWorker.heartbeat_at < now - lease * FORGET_AFTER_LEASES))
        live = session.scalar(
            select(func.count()).select_from(BusWorker).where(BusWorker.heartbeat_at > now - lease)
        )
        return max(1, live or 0)

    def _release_all(self, uow: UnitOfWork) -> None:
        position = SubscriptionPosition
        uow.session.execute(
            update(position)
            .where(position.owner == self.worker_id)
            .values(owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
        uow.session.execute(delete(BusWorker).where(BusWorker.id == self.worker_id))
