"""The event envelope: CloudEvents 1.0 attributes plus cxstack's extensions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, immutable once written.

    ``seq`` is the position in the event log, assigned when the event is appended (0 before that).
    """

    id: str
    type: str
    source: str
    subject: str
    time: datetime
    tenant: str
    data: dict[str, Any]
    dataschema: str
    correlationid: str
    causationid: str | None = None
    #: Who made the change (``user:<id>``, ``api_key:<id>``, ``cli:<name>``, ``subscription:<name>``...).
    actor: str | None = None
    seq: int = 0
    partition: int = 0
    extensions: dict[str, str] = field(default_factory=dict)

    def to_cloudevent(self) -> dict[str, Any]:
        """Return the structured-mode CloudEvents 1.0 JSON object of this event."""
        body: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "datacontenttype": CONTENT_TYPE,
            "dataschema": self.dataschema,
            "tenant": self.tenant,
            "correlationid": self.correlationid,
            "sequence": str(self.seq),
            "data": self.data,
        }
        if self.causationid is not None:
            body["causationid"] = self.causationid
        if self.actor is not None:
            body["actor"] = self.actor
        return body

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_cloudevent())
