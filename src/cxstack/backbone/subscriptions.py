"""Subscriptions: named sets of handlers, one per event class, registered explicitly by each layer's
``handlers.py``.

A subscription's ``EventHandlers`` maps each payload class it handles to a function; delivery reads only
the event types of those classes from the log, decodes each event's data to its class and calls that
class's function with the unit of work, the typed payload and the envelope (tenant, subject, time, id)::

    handlers = EventHandlers()

    @handlers.on(CustomerCreated)
    def _created(uow: UnitOfWork, created: CustomerCreated, event: Event) -> None: ...

    registry.add("records.timeline", handlers)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from cxstack.backbone.envelope import Event
from cxstack.backbone.events import EventPayload
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.kit.errors import InvalidEventPayload

P = TypeVar("P", bound=EventPayload)

#: Handles one event class: changes rows and publishes events through the unit of work; it never commits.
#: It must be idempotent in effect: the backbone records handled event ids, but a handler with outside
#: effects (an HTTP call) can still see an event twice after a crash.
PayloadHandler = Callable[[UnitOfWork, P, Event], None]
#: What delivery calls for one event of the log: decodes it and runs its class's handler.
Handler = Callable[[UnitOfWork, Event], None]
#: Handles many events in one call, each with its own unit of work (on one transaction, its events carrying
#: that event as their cause) and its typed payload, in log order; to the same effect as the handlers on
#: each event in turn, but free to write their rows together. Should it raise, the events are handled one
#: at a time instead.
PayloadBatchHandler = Callable[[Sequence[tuple[UnitOfWork, EventPayload, Event]]], None]
#: What delivery calls for a batch of events of the log.
BatchHandler = Callable[[Sequence[tuple[UnitOfWork, Event]]], None]
#: Drops a projection's rows before a replay rebuilds them.
Reset = Callable[[UnitOfWork], None]


class EventHandlers:
    """The handlers of one subscription, one per event class; called with an event of the log, it decodes
    the event's data to its class and runs that class's handler."""

    def __init__(self, handlers: Mapping[type[EventPayload], PayloadHandler[Any]] | None = None) -> None:
        """``handlers``: a handler per class to start with (more are added with ``add`` or ``on``)."""
        self._by_type: dict[str, tuple[type[EventPayload], PayloadHandler[Any]]] = {}
        for payload, handler in (handlers or {}).items():
            self.add(payload, handler=handler)

    def add(self, *payloads: type[P], handler: PayloadHandler[P]) -> None:
        """Handle events of each of ``payloads`` with ``handler``; raises ValueError for a class that names
        no event type or one handled already."""
        for payload in payloads:
            if not payload.event_type:
                raise ValueError(f"{payload.__name__} names no event type")
            if payload.event_type in self._by_type:
                raise ValueError(f"{payload.event_type!r} has a handler already")
            self._by_type[payload.event_type] = (payload, handler)

    def on(self, *payloads: type[P]) -> Callable[[PayloadHandler[P]], PayloadHandler[P]]:
        """Decorator form of ``add``: the decorated function handles events of ``payloads``."""

        def decorate(handler: PayloadHandler[P]) -> PayloadHandler[P]:
            self.add(*payloads, handler=handler)
            return handler

        return decorate

    @property
    def types(self) -> frozenset[str]:
        """The type names of the classes handled: the only events delivered to this subscription."""
        return frozenset(self._by_type)

    @property
    def payloads(self) -> tuple[type[EventPayload], ...]:
        """The classes handled, in the order they were added."""
        return tuple(payload for payload, _ in self._by_type.values())

    def decode(self, event: Event) -> EventPayload:
        """Return ``event``'s data as an instance of its class; raises InvalidEventPayload for a type not
        handled here, ValidationError for data that does not validate (the delivery is then parked and
        retried like that of a handler that failed)."""
        try:
            payload, _ = self._by_type[event.type]
        except KeyError:
            raise InvalidEventPayload(f"no handler of event type {event.type!r}") from None
        shared = _shared_payloads.get()
        if shared is None:
            return payload.model_validate(event.data)
        key = (event.id, payload)
        found = shared.get(key)
        if found is None:
            found = shared[key] = payload.model_validate(event.data)
        return found

    def dispatch(self, uow: UnitOfWork, payload: EventPayload, event: Event) -> None:
        """Run the handler of ``payload``'s class on it (decoded already from ``event``)."""
        _, handler = self._by_type[event.type]
        handler(uow, payload, event)

    def __call__(self, uow: UnitOfWork, event: Event) -> None:
        self.dispatch(uow, self.decode(event), event)


@dataclass(frozen=True, slots=True)
class Subscription:
    name: str
    handler: Handler
    #: The type names of the classes it handles: delivery reads only these from the log.
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
        handlers: EventHandlers,
        *,
        reset: Reset | None = None,
        description: str = "",
        batch_handler: PayloadBatchHandler | None = None,
    ) -> Subscription:
        """Register ``handlers`` under ``name``; raises ValueError on a duplicate name or no handlers.

        ``batch_handler``, if given, is called with the decoded payloads of a run of events instead of the
        handlers one event at a time (see ``PayloadBatchHandler``).
        """
        if name in self._subscriptions:
            raise ValueError(f"subscription {name!r} is registered twice")
        wanted = handlers.types
        if not wanted:
            raise ValueError(f"subscription {name!r} handles no event class")
        batch = _batch_of(handlers, batch_handler) if batch_handler is not None else None
        subscription = Subscription(name, handlers, wanted, reset, description, batch)
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


#: Within ``sharing_payloads``: the payloads decoded so far, by event id and class.
_shared_payloads: ContextVar[dict[tuple[str, type[EventPayload]], EventPayload] | None] = ContextVar(
    "cxstack_shared_payloads", default=None
)


@contextmanager
def sharing_payloads() -> Iterator[None]:
    """Decode each event once for every subscription that handles it meanwhile (a delivery round reads
    the log once for all of them): they are given the same payload object. Payloads are frozen; a handler
    must not change what they hold either (a ``changes`` dict, say)."""
    token = _shared_payloads.set({})
    try:
        yield
    finally:
        _shared_payloads.reset(token)


def _batch_of(handlers: EventHandlers, batch_handler: PayloadBatchHandler) -> BatchHandler:
    """Return the batch handler delivery calls: ``batch_handler`` on the events' decoded payloads."""

    def handle(units: Sequence[tuple[UnitOfWork, Event]]) -> None:
        batch_handler([(uow, handlers.decode(event), event) for uow, event in units])

    return handle
