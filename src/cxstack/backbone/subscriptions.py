"""Subscriptions: named handlers of event types, registered explicitly by each layer's ``handlers.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from cxstack.backbone.envelope import Event
from cxstack.backbone.unit_of_work import UnitOfWork

#: A handler changes rows and publishes events through the unit of work; it never commits. It must be
#: idempotent in effect: the backbone records handled event ids, but a handler with outside effects
#: (an HTTP call) can still see an event twice after a crash.
Handler = Callable[[UnitOfWork, Event], None]
#: Handles many events in one call, each with its own unit of work (on one transaction, its events carrying
#: that event as their cause), in log order; to the same effect as the handler on each event in turn, but
#: free to write their rows together. Should it raise, the events are handled one at a time instead.
BatchHandler = Callable[[Sequence[tuple[UnitOfWork, Event]]], None]
#: Drops a projection's rows before a replay rebuilds them.
Reset = Callable[[UnitOfWork], None]


@dataclass(frozen=True, slots=True)
class Subscription:
    name: str
    handler: Handler
    types: frozenset[str]
    reset: Reset | None = None
    description: str = ""
    batch_handler: BatchHandler | None = None


class SubscriptionRegistry:
    """Every subscription of the process, in registration order."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, Subscription] = {}

    def add(
        self,
        name: str,
        handler: Handler,
        *,
        types: Iterable[str],
        reset: Reset | None = None,
        description: str = "",
        batch_handler: BatchHandler | None = None,
    ) -> Subscription:
        """Register ``handler`` for ``types`` under ``name``; raises ValueError on a duplicate name."""
        if name in self._subscriptions:
            raise ValueError(f"subscription {name!r} is registered twice")
        wanted = frozenset(types)
        if not wanted:
            raise ValueError(f"subscription {name!r} names no event types")
        subscription = Subscription(name, handler, wanted, reset, description, batch_handler)
        self._subscriptions[name] = subscription
        return subscription

    def get(self, name: str) -> Subscription:
        try:
            return self._subscriptions[name]
        except KeyError:
            known = ", ".join(sorted(self._subscriptions)) or "none"
            raise KeyError(f"no subscription named {name!r} (known: {known})") from None

    def __iter__(self) -> Iterator[Subscription]:
        return iter(self._subscriptions.values())

    def __len__(self) -> int:
        return len(self._subscriptions)
