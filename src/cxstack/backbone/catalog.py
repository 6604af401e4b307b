"""The event catalog: every event type cxstack publishes, with its typed payload model.

Layers declare their event types as ``EventType`` values in their ``schemas.py``; the composition root
(``cxstack.catalog``) lists them all in one ``EventCatalog``. Publishing an unknown type, or a payload that
does not validate against its model, raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from cxstack.kit.errors import InvalidEventPayload, UnknownEventType

_TYPE_PATTERN = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")


@dataclass(frozen=True, slots=True)
class EventType:
    """An event type name (``noun.verb`` in the past tense), its payload model and schema version."""

    name: str
    payload: type[BaseModel]
    version: int = 1
    description: str = ""

    def __post_init__(self) -> None:
        if not _TYPE_PATTERN.match(self.name):
            raise ValueError(f"event type {self.name!r} is not of the form noun.verb")

    @property
    def dataschema(self) -> str:
        return f"urn:cxstack:event:{self.name}:v{self.version}"


class EventCatalog:
    """The registry of event types; built once, explicitly, by the composition root."""

    def __init__(self, types: Iterable[EventType] = ()) -> None:
        self._types: dict[str, EventType] = {}
        for event_type in types:
            self.add(event_type)

    def add(self, event_type: EventType) -> None:
        if event_type.name in self._types:
            raise ValueError(f"event type {event_type.name!r} is registered twice")
        self._types[event_type.name] = event_type

    def get(self, name: str) -> EventType:
        """Return the type named ``name``; raises UnknownEventType."""
        try:
            return self._types[name]
        except KeyError:
            raise UnknownEventType(f"event type {name!r} is not in the catalog") from None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Any:
        return iter(sorted(self._types.values(), key=lambda t: t.name))

    def encode(self, name: str, payload: BaseModel | dict[str, Any]) -> dict[str, Any]:
        """Validate ``payload`` against the model of ``name`` and return its JSON-ready dict.

        Raises UnknownEventType or InvalidEventPayload.
        """
        event_type = self.get(name)
        model = event_type.payload
        if isinstance(payload, BaseModel):
            if not isinstance(payload, model):
                raise InvalidEventPayload(
                    f"event {name!r} takes a {model.__name__} payload, not {type(payload).__name__}"
                )
            if type(payload) is model and model.model_config.get("frozen"):
                # Validated when built and unchangeable since.
                return payload.model_dump(mode="json")
            # Validated again: a model's fields can be assigned after it was built, and a subclass may
            # carry fields the event's schema does not have.
            payload = payload.model_dump(warnings=False)
        try:
            return model.model_validate(payload).model_dump(mode="json")
        except ValidationError as error:
            raise InvalidEventPayload(f"payload of {name!r} does not validate: {error}") from error

    def decode(self, name: str, data: dict[str, Any]) -> BaseModel:
        """Return the typed payload of an event read back from the log."""
        return self.get(name).payload.model_validate(data)
