"""A running cxstack: settings, database, catalog, subscriptions, the process's services and, where this
process runs it, the bus.

Which parts run is decided by the settings and the process's role:

- embedded driver (SQLite): ``serve`` runs the API and the in-process bus (handlers and timers).
- scale-out driver (PostgreSQL with ``CXSTACK_NATS_URL``): ``serve`` runs the API and the relay that publishes
  the log to NATS JetStream; each ``worker`` runs handlers and timers over its leased share of the log's
  partitions (``serve`` runs a worker too if ``CXSTACK_RUN_WORKERS_IN_SERVER`` is true).
"""

from __future__ import annotations

import asyncio
import gc
import signal
from dataclasses import dataclass, field
from typing import Literal

from cxstack.backbone.catalog import EventCatalog
from cxstack.backbone.consumer import Bus
from cxstack.backbone.database import Database
from cxstack.backbone.delivery import RetryPolicy
from cxstack.backbone.effect_runner import EffectRunner
from cxstack.backbone.effects import EffectRegistry
from cxstack.backbone.live import LiveFeed
from cxstack.backbone.relay import Relay
from cxstack.backbone.subscriptions import SubscriptionRegistry
from cxstack.backbone.worker import Worker
from cxstack.config import Settings
from cxstack.kit.clock import Clock, SystemClock
from cxstack.wiring import Services, build_catalog, build_effects, build_services, build_subscriptions


@dataclass
class Runtime:
    settings: Settings
    db: Database
    catalog: EventCatalog
    subscriptions: SubscriptionRegistry
    clock: Clock
    #: What the parts of this process share (the file store, the chat hub, the key checks...).
    services: Services
    #: Committed events for whoever watches now (WebSockets); see ``cxstack.backbone.live``.
    live: LiveFeed
    #: The effect kinds this process performs (calls to the outside world after commit).
    effects: EffectRegistry = field(default_factory=EffectRegistry)
    bus: Bus | None = None
    #: Scale-out driver: publishes the log to the broker (``serve``).
    relay: Relay | None = None
    #: Scale-out driver: handlers and timers over leased partitions (``worker``).
    worker: Worker | None = None
    #: Wherever handlers run: claims due effects and performs them.
    effect_runner: EffectRunner | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        subscriptions: SubscriptionRegistry | None = None,
        effects: EffectRegistry | None = None,
        run_bus: bool | None = None,
        role: Literal["serve", "worker"] = "serve",
    ) -> Runtime:
        """Assemble a runtime for ``role``; ``run_bus`` (handlers and timers) defaults to the settings.

        ``run_bus=False`` gives the database alone (migrations, admin commands). Raises ValueError for the
        ``worker`` role unless the settings name the scale-out driver.
        """
        if role == "worker" and not settings.is_scale_out:
            raise ValueError(WORKER_NEEDS_SCALE_OUT)
        clock = clock or SystemClock()
        catalog = build_catalog()
        db = Database(
            settings.database_url,
            catalog=catalog,
            clock=clock,
            partitions=settings.partitions,
            sqlite_synchronous=settings.sqlite_synchronous,
            sqlite_mmap_bytes=settings.sqlite_mmap_bytes,
        )
        if settings.is_scale_out:
            live = LiveFeed(nats_url=settings.nats_url, prefix=settings.stream_prefix)
        else:
            live = LiveFeed()
            db.add_event_listener(live.publish)
        services = build_services(settings, db=db, live=live, clock=clock)
        registry = (
            subscriptions
            if subscriptions is not None
            else build_subscriptions(
                settings,
                files=services.files,
                routers=services.routers,
                voice_provider=services.voice_provider,
            )
        )
        effect_kinds = effects if effects is not None else build_effects(settings, files=services.files)
        runtime = cls(
            settings=settings,
            db=db,
            catalog=catalog,
            subscriptions=registry,
            clock=clock,
            services=services,
            live=live,
            effects=effect_kinds,
        )
        handlers = run_bus if run_bus is not None else (role == "worker" or settings.server_runs_handlers)
        if settings.is_scale_out:
            if handlers:
                runtime.worker = Worker(
                    db,
                    registry,
                    policy=runtime.retry_policy,
                    nats_url=settings.nats_url,
                    prefix=settings.stream_prefix,
                    lease_s=settings.lease_seconds,
                    batch_size=settings.dispatch_batch_size,
                    timer_poll_s=settings.timer_poll_seconds,
                )
            if role == "serve" and run_bus is not False:
                runtime.relay = Relay(
                    db,
                    nats_url=settings.nats_url or "",
                    prefix=settings.stream_prefix,
                    batch_size=settings.dispatch_batch_size,
                    poll_s=settings.relay_poll_seconds,
                )
        elif handlers:
            runtime.bus = Bus(
                db,
                registry,
                policy=runtime.retry_policy,
                batch_size=settings.dispatch_batch_size,
                round_gap_s=settings.dispatch_round_gap_seconds,
                timer_poll_s=settings.timer_poll_seconds,
            )
        if handlers:
            runtime.effect_runner = EffectRunner(
                db,
                effect_kinds,
                policy=RetryPolicy(
                    max_attempts=settings.effect_max_attempts,
                    base_delay_s=settings.effect_retry_base_seconds,
                ),
                lease_s=settings.effect_lease_seconds,
                poll_s=settings.effect_poll_seconds,
            )
        return runtime

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.settings.handler_max_attempts,
            base_delay_s=self.settings.handler_retry_base_seconds,
        )

    async def start(self) -> None:
        await self.db.start()
        self.services.routing_heartbeat.start()
        if self.live.nats_url is not None and self.relay is not None:
            await self.live.start()  # a serve process: its WebSockets watch every process's events
        if self.bus is not None:
            await self.bus.start()
        if self.worker is not None:
            await self.worker.start()
        if self.relay is not None:
            await self.relay.start()
        if self.effect_runner is not None:
            await self.effect_runner.start()

    async def stop(self) -> None:
        if self.worker is not None:
            # First, so that its partitions' leases are handed to the other workers at once, not after the
            # effects in flight here have had their grace.
            await self.worker.stop()
        if self.effect_runner is not None:
            await self.effect_runner.stop()
            await self.effects.aclose()
        if self.relay is not None:
            await self.relay.stop()
        # While the database is up: this process's routing sockets are deleted and their agents' away timers
        # scheduled (a socket on another process keeps its agent's presence).
        await self.services.routing_heartbeat.stop()
        if self.bus is not None:
            await self.bus.stop()
        await self.live.stop()
        await self.db.stop()


WORKER_NEEDS_SCALE_OUT = (
    "`cxstack worker` runs on the scale-out driver only: set CXSTACK_DATABASE_URL to postgresql://... and "
    "CXSTACK_NATS_URL to nats://... . On the embedded driver (SQLite) `cxstack serve` runs the event "
    "handlers and timers itself."
)


def run_worker(settings: Settings) -> None:
    """Run handlers and timers over a leased share of the log until SIGINT or SIGTERM; leases are handed
    back on the way out. Raises ValueError unless the settings name the scale-out driver."""
    import uvloop

    runtime = Runtime.build(settings, role="worker")

    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        await runtime.start()
        try:
            # Objects alive after start-up are long-lived; keeping them out of collections shortens GC pauses.
            gc.collect()
            gc.freeze()
            await stopping.wait()
        finally:
            await runtime.stop()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
