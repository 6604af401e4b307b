"""The unit of work: one transaction's session plus the events it will append to the log.

Services take a ``UnitOfWork``, change rows through ``uow.session`` and record what happened with
``uow.publish``; they never commit. The database commits the rows and the events together.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Connection, Table, insert, text
from sqlalchemy.orm import Session

from cxstack.backbone.catalog import EventCatalog
from cxstack.backbone.envelope import Event
from cxstack.backbone.events import EventPayload
from cxstack.backbone.models import EventRecord
from cxstack.kit.clock import Clock
from cxstack.kit.ids import new_ulid

#: Serialises appends to the log on PostgreSQL so that log order is commit order: a reader that has
#: seen sequence n has seen everything below n. Held only from the append to the commit.
EVENT_LOG_LOCK_KEY = 0x63787374  # "cxst"


@dataclass(frozen=True, slots=True)
class Context:
    """Who or what caused this unit of work, carried onto every event it publishes."""

    correlation_id: str = field(default_factory=new_ulid)
    causation_id: str | None = None
    actor: str = "system"
    source: str = "cxstack"


_INSERT_EVENT = insert(cast(Table, EventRecord.__table__))


def partition_of(subject: str, partitions: int) -> int:
    """Return the log partition of ``subject``; events of one subject always share a partition."""
    return zlib.crc32(subject.encode()) % partitions


class UnitOfWork:
    def __init__(
        self,
        session: Session,
        *,
        catalog: EventCatalog,
        clock: Clock,
        context: Context,
        partitions: int,
        connection: Connection | None = None,
    ) -> None:
        """``connection``, if given, is the one ``session`` runs its transaction on (saves a look-up)."""
        self.session = session
        self.catalog = catalog
        self.clock = clock
        self.context = context
        self.partitions = partitions
        self._connection = connection
        #: Events published and not yet appended to the log.
        self.events: list[Event] = []
        #: Events appended to the log in this transaction (visible once it commits).
        self.appended: list[Event] = []

    def acting_for(self, context: Context) -> UnitOfWork:
        """Return a unit of work on the same transaction whose events carry ``context``; they are appended
        with this one's (a batched write does the work of many callers in one unit of work)."""
        child = UnitOfWork(
            self.session,
            catalog=self.catalog,
            clock=self.clock,
            context=context,
            partitions=self.partitions,
            connection=self._connection,
        )
        child.events = self.events
        return child

    def publish(
        self,
        payload: EventPayload,
        *,
        tenant_id: str,
        subject: str,
        source: str | None = None,
        context: Context | None = None,
    ) -> Event:
        """Queue the event ``payload`` for this transaction; its type and schema version are its class's.

        ``context``: the cause of this event when it is not the unit of work's own (a batched write does the
        work of many callers in one unit of work). Raises UnknownEventType or InvalidEventPayload when the
        payload's class is not the catalog's for its type; nothing is written for such an event.
        """
        context = context or self.context
        data = self.catalog.encode(payload)
        event_class = type(payload)
        event = Event(
            id=new_ulid(),
            type=event_class.event_type,
            source=source or context.source,
            subject=subject,
            time=self.clock.now(),
            tenant=tenant_id,
            data=data,
            dataschema=event_class.event_dataschema,
            correlationid=context.correlation_id,
            causationid=context.causation_id,
            actor=context.actor,
            partition=partition_of(subject, self.partitions),
        )
        self.events.append(event)
        return event

    def flush_events(self) -> None:
        """Append the queued events to the log inside the current transaction."""
        self.session.flush()
        pending, self.events = self.events, []
        if not pending:
            return
        # Core on the session's connection, not the ORM's bulk insert: it costs far less per row.
        connection = self._connection or self.session.connection()
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_LOG_LOCK_KEY})
        connection.execute(
            _INSERT_EVENT,
            [
                {
                    "id": event.id,
                    "tenant_id": event.tenant,
                    "type": event.type,
                    "source": event.source,
                    "subject": event.subject,
                    "partition": event.partition,
                    "time": event.time,
                    "dataschema": event.dataschema,
                    "correlation_id": event.correlationid,
                    "causation_id": event.causationid,
                    "actor": event.actor,
                    "data": event.data,
                }
                for event in pending
            ],
        )
        self.appended.extend(pending)
