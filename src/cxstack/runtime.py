"""A running cxstack: settings, database, catalog, subscriptions and, where this process runs it, the bus."""

from __future__ import annotations

from dataclasses import dataclass, field

from cxstack.backbone.catalog import EventCatalog
from cxstack.backbone.clock import Clock, SystemClock
from cxstack.backbone.consumer import Bus
from cxstack.backbone.database import Database
from cxstack.backbone.delivery import RetryPolicy
from cxstack.backbone.subscriptions import SubscriptionRegistry
from cxstack.config import Settings
from cxstack.wiring import build_catalog, build_subscriptions


@dataclass
class Runtime:
    settings: Settings
    db: Database
    catalog: EventCatalog
    subscriptions: SubscriptionRegistry
    clock: Clock
    bus: Bus | None = None
    extras: dict[str, object] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        subscriptions: SubscriptionRegistry | None = None,
        run_bus: bool | None = None,
    ) -> Runtime:
        """Assemble a runtime; ``run_bus`` defaults to the settings (embedded driver: yes)."""
        clock = clock or SystemClock()
        catalog = build_catalog()
        registry = subscriptions if subscriptions is not None else build_subscriptions()
        db = Database(settings.database_url, catalog=catalog, clock=clock, partitions=settings.partitions)
        runtime = cls(settings=settings, db=db, catalog=catalog, subscriptions=registry, clock=clock)
        if run_bus if run_bus is not None else settings.run_workers_in_server:
            runtime.bus = Bus(
                db,
                registry,
                policy=runtime.retry_policy,
                batch_size=settings.dispatch_batch_size,
                timer_poll_s=settings.timer_poll_seconds,
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
        if self.bus is not None:
            await self.bus.start()

    async def stop(self) -> None:
        if self.bus is not None:
            await self.bus.stop()
        await self.db.stop()
