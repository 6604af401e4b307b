"""Event payloads: each event type is one frozen pydantic class that declares its type name and version.

A layer declares an event once, as a class::

    class CustomerCreated(EventPayload, type="customer.created", version=1):
        \"\"\"A customer record was created.\"\"\"

        customer_id: str

and publishes an instance of it (``uow.publish(CustomerCreated(...), tenant_id=..., subject=...)``). The
catalog is built from the classes and subscriptions register a handler per class, so no type name is ever
paired with a payload model by hand. On the wire nothing changes: the envelope carries the type name, the
``dataschema`` ``urn:cxstack:event:<type>:v<version>`` and the payload as JSON.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

_TYPE_PATTERN = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")


def dataschema_of(name: str, version: int) -> str:
    """Return the ``dataschema`` attribute of events of type ``name`` at schema ``version``."""
    return f"urn:cxstack:event:{name}:v{version}"


class EventPayload(BaseModel):
    """The payload of one event type; subclasses name their type (``noun.verb`` in the past tense) and
    schema version in the class statement, and the first paragraph of their docstring describes the event.

    Instances are frozen: what happened does not change once it is published. Fields a payload no longer
    has are ignored when an older event is read back from the log, so events already written still decode.
    A subclass that names no type is a base for the fields several event types share; it cannot be
    published.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    #: The event type name (``customer.created``); empty on a base that names none.
    event_type: ClassVar[str] = ""
    #: The schema version of the payload, carried in the envelope's ``dataschema``.
    event_version: ClassVar[int] = 0
    #: What the event means: the first paragraph of the class docstring.
    event_description: ClassVar[str] = ""
    #: ``urn:cxstack:event:<type>:v<version>``.
    event_dataschema: ClassVar[str] = ""

    def __init_subclass__(cls, *, type: str | None = None, version: int = 1, **kwargs: Any) -> None:
        """Record the type and version of an event class; raises TypeError on a type name that is not
        ``noun.verb``, a version below 1 or a missing docstring."""
        super().__init_subclass__(**kwargs)
        if type is None:
            # A base of event classes (or a subclass of one): it names no type of its own.
            cls.event_type, cls.event_version, cls.event_description, cls.event_dataschema = "", 0, "", ""
            return
        if not _TYPE_PATTERN.match(type):
            raise TypeError(f"event type {type!r} of {cls.__name__} is not of the form noun.verb")
        if version < 1:
            raise TypeError(f"event type {type!r} of {cls.__name__} has version {version}, not 1 or more")
        doc = inspect.cleandoc(cls.__doc__ or "")
        if not doc:
            raise TypeError(f"event class {cls.__name__} ({type!r}) has no docstring to describe it")
        cls.event_type = type
        cls.event_version = version
        cls.event_description = " ".join(doc.split("\n\n", 1)[0].split())
        cls.event_dataschema = dataschema_of(type, version)
