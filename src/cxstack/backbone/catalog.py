"""The event catalog: every event type cxstack publishes, as its payload class.

Layers declare their events as ``EventPayload`` classes in their ``schemas.py`` (listed in ``EVENT_TYPES``);
the composition root (``cxstack.wiring.build_catalog``) lists them all in one ``EventCatalog``. Publishing
an instance of a class that is not in the catalog raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import ValidationError

from cxstack.backbone.events import EventPayload
from cxstack.kit.errors import InvalidEventPayload, UnknownEventType


class EventCatalog:
    """The registry of event classes by type name; built once, explicitly, by the composition root."""

    def __init__(self, payloads: Iterable[type[EventPayload]] = ()) -> None:
        self._types: dict[str, type[EventPayload]] = {}
        for payload in payloads:
            self.add(payload)

    def add(self, payload: type[EventPayload]) -> None:
        """Add an event class; raises ValueError for a base that names no type or a type added twice."""
        if not payload.event_type:
            raise ValueError(f"{payload.__name__} names no event type")
        if payload.event_type in self._types:
            raise ValueError(f"event type {payload.event_type!r} is registered twice")
        self._types[payload.event_type] = payload

    def get(self, name: str) -> type[EventPayload]:
        """Return the class of the type named ``name``; raises UnknownEventType."""
        try:
            return self._types[name]
        except KeyError:
            raise UnknownEventType(f"event type {name!r} is not in the catalog") from None

    def __contains__(self, item: object) -> bool:
        """Whether ``item`` (a type name or an event class) is in the catalog."""
        if isinstance(item, str):
            return item in self._types
        return isinstance(item, type) and self._types.get(getattr(item, "event_type", "")) is item

    def __iter__(self) -> Iterator[type[EventPayload]]:
        """The event classes, by type name."""
        return iter(sorted(self._types.values(), key=lambda payload: payload.event_type))

    def __len__(self) -> int:
        return len(self._types)

    def encode(self, payload: EventPayload) -> dict[str, Any]:
        """Return the JSON-ready data of ``payload``, whose class must be the catalog's for its type.

        Raises UnknownEventType (a type not in the catalog) or InvalidEventPayload (another class than the
        catalog's for that type: a base that names no type, a subclass).
        """
        cls = type(payload)
        registered = self.get(cls.event_type) if cls.event_type else None
        if registered is None:
            raise InvalidEventPayload(f"{cls.__name__} names no event type: it cannot be published")
        if registered is not cls:
            raise InvalidEventPayload(
                f"{cls.__name__} is not in the catalog ({cls.event_type!r} takes a {registered.__name__})"
            )
        # Validated when it was built and frozen since.
        return payload.model_dump(mode="json")

    def decode(self, name: str, data: dict[str, Any]) -> EventPayload:
        """Return the typed payload of an event of type ``name`` read back from the log.

        Raises UnknownEventType or InvalidEventPayload.
        """
        payload = self.get(name)
        try:
            return payload.model_validate(data)
        except ValidationError as error:
            raise InvalidEventPayload(f"payload of {name!r} does not validate: {error}") from error
