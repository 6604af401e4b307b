"""The transactional outbox: a unit of work commits its rows and its events together, or neither."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxstack.backbone.events import EventPayload
from cxstack.backbone.log import read_events
from cxstack.backbone.models import EventRecord
from cxstack.backbone.unit_of_work import Context, UnitOfWork, partition_of
from cxstack.governance.audit.models import AuditEntry
from cxstack.governance.audit.service import record_audit
from cxstack.kit.errors import InvalidEventPayload, UnknownEventType
from cxstack.records.conversations.schemas import MessageReceived
from cxstack.records.customers.schemas import CustomerCreated, CustomerUpdated
from cxstack.runtime import Runtime

TENANT = "ten_outbox"
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


class Boom(Exception):
    """What a failing unit of work raises in these tests."""


def change(uow: UnitOfWork, customer_id: str, *, fail: bool = False) -> str:
    """Write an audit row and publish ``customer.updated`` for ``customer_id``; raise Boom if ``fail``."""
    record_audit(
        uow, tenant_id=TENANT, action="customer.touched", target_type="customer", target_id=customer_id
    )
    event = uow.publish(
        CustomerUpdated(customer_id=customer_id, changes={"n": customer_id}),
        tenant_id=TENANT,
        subject=customer_id,
    )
    if fail:
        raise Boom(customer_id)
    return event.id


async def audited_targets(runtime: Runtime) -> set[str]:
    def query(session: Session) -> set[str]:
        return set(session.scalars(select(AuditEntry.target_id).where(AuditEntry.tenant_id == TENANT)))

    return await runtime.db.read(query)


async def event_subjects(runtime: Runtime) -> list[str]:
    def query(session: Session) -> list[str]:
        return [event.subject for event in read_events(session, after=0, limit=100_000)]

    return await runtime.db.read(query)


async def count_events(runtime: Runtime) -> int:
    def query(session: Session) -> int:
        return session.scalar(select(func.count()).select_from(EventRecord)) or 0

    return await runtime.db.read(query)


async def test_unit_of_work_that_raises_after_publishing_leaves_neither_rows_nor_events(
    runtime: Runtime,
) -> None:
    with pytest.raises(Boom):
        await runtime.db.write(lambda uow: change(uow, "cus_1", fail=True))

    assert await audited_targets(runtime) == set()
    assert await count_events(runtime) == 0


async def test_committed_unit_of_work_has_its_events_in_the_log_as_cloudevents(runtime: Runtime) -> None:
    context = Context(causation_id="01J0000000000000000000CAUSE", actor="user:ada", source="cxstack/tests")

    def create(uow: UnitOfWork) -> list[str]:
        record_audit(uow, tenant_id=TENANT, action="customer.created", target_type="customer", target_id="c1")
        first = uow.publish(
            CustomerCreated(customer_id="cus_1", name="Ada", email=None, phone=None, account_id=None),
            tenant_id=TENANT,
            subject="cus_1",
        )
        second = uow.publish(
            CustomerUpdated(customer_id="cus_1", changes={"name": "Ada L."}),
            tenant_id=TENANT,
            subject="cus_1",
            source="cxstack/records",
        )
        return [first.id, second.id]

    before = datetime.now(UTC) - timedelta(seconds=1)
    ids = await runtime.db.write(create, context=context)

    events = await runtime.db.read(lambda session: read_events(session, after=0, limit=10))
    assert [event.id for event in events] == ids
    assert events[0].seq < events[1].seq
    first, second = (event.to_cloudevent() for event in events)
    assert first["specversion"] == "1.0"
    assert ULID.match(first["id"])
    assert first["type"] == "customer.created"
    assert first["source"] == "cxstack/tests"
    assert second["source"] == "cxstack/records"
    assert first["subject"] == "cus_1"
    assert first["datacontenttype"] == "application/json"
    assert first["tenant"] == TENANT
    assert first["correlationid"] == second["correlationid"] == context.correlation_id
    assert first["causationid"] == context.causation_id
    # Who made the change, as the audit log names them.
    assert first["actor"] == second["actor"] == context.actor
    assert first["dataschema"] == "urn:cxstack:event:customer.created:v1"
    assert first["data"] == {
        "customer_id": "cus_1",
        "name": "Ada",
        "email": None,
        "phone": None,
        "account_id": None,
    }
    assert second["data"] == {"customer_id": "cus_1", "changes": {"name": "Ada L."}, "version": None}
    assert first["time"].endswith("Z")
    time_ = datetime.fromisoformat(first["time"].replace("Z", "+00:00"))
    assert before <= time_ <= datetime.now(UTC) + timedelta(seconds=1)
    assert events[0].partition == partition_of("cus_1", runtime.db.partitions)
    assert await audited_targets(runtime) == {"c1"}


class CustomerExploded(EventPayload, type="customer.exploded"):
    """An event no catalog has."""

    customer_id: str


class CustomerUpdatedElsewhere(EventPayload, type="customer.updated"):
    """Another class that names the type of ``CustomerUpdated``."""

    customer_id: str


class CustomerUpdatedWithSecret(CustomerUpdated):
    """A subclass of an event class: it names no type, so it is not the catalog's class of any."""

    password: str


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (CustomerExploded(customer_id="cus_1"), UnknownEventType),
        (CustomerUpdatedElsewhere(customer_id="cus_1"), InvalidEventPayload),
        (CustomerUpdatedWithSecret(customer_id="cus_1", changes={}, password="hunter2"), InvalidEventPayload),
    ],
    ids=["type-not-in-catalog", "other-class-of-a-type", "subclass"],
)
async def test_publishing_a_payload_whose_class_is_not_in_the_catalog_raises_and_writes_nothing(
    runtime: Runtime, payload: EventPayload, error: type[Exception]
) -> None:
    def publish(uow: UnitOfWork) -> None:
        record_audit(uow, tenant_id=TENANT, action="customer.touched", target_type="customer", target_id="c1")
        uow.publish(payload, tenant_id=TENANT, subject="cus_1")

    with pytest.raises(error):
        await runtime.db.write(publish)

    assert await audited_targets(runtime) == set()
    assert await count_events(runtime) == 0


@pytest.mark.parametrize(
    "data",
    [{"customer_id": "cus_1"}, {"customer_id": 42, "changes": {}}],
    ids=["missing-field", "wrong-type"],
)
def test_a_payload_that_does_not_validate_cannot_be_built(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CustomerUpdated.model_validate(data)


def test_payload_instances_are_immutable() -> None:
    payload = CustomerUpdated(customer_id="cus_1", changes={})

    with pytest.raises(ValidationError, match="frozen"):
        payload.customer_id = "cus_2"  # type: ignore[misc]
    assert payload.customer_id == "cus_1"


async def test_an_event_read_back_from_the_log_decodes_to_its_class(runtime: Runtime) -> None:
    published = MessageReceived(
        message_id="msg_1",
        conversation_id="cnv_1",
        customer_id="cus_1",
        channel="webchat",
        direction="inbound",
        author_kind="customer",
        author_id=None,
        body="Hello",
        content_type="text/plain",
        attachments_count=0,
        client_id=None,
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    await runtime.db.write(lambda uow: uow.publish(published, tenant_id=TENANT, subject="cnv_1"))

    [event] = await runtime.db.read(lambda session: read_events(session, after=0, limit=10))
    assert (event.type, event.dataschema) == ("message.received", "urn:cxstack:event:message.received:v1")
    decoded = runtime.catalog.decode(event.type, event.data)
    assert type(decoded) is MessageReceived
    assert decoded == published
    with pytest.raises(UnknownEventType):
        runtime.catalog.decode("customer.exploded", {"customer_id": "cus_1"})
    with pytest.raises(InvalidEventPayload):
        runtime.catalog.decode("customer.updated", {"customer_id": 42})


async def test_one_failing_write_among_many_concurrent_ones_does_not_fail_the_others(
    runtime: Runtime,
) -> None:
    # Keep the writer busy so that the writes below queue up and are committed in groups.
    blocker = asyncio.ensure_future(runtime.db.write(lambda uow: time.sleep(0.2)))
    await asyncio.sleep(0.05)
    names = [f"cus_{n:03d}" for n in range(300)]
    failing = {name for n, name in enumerate(names) if n % 7 == 3}
    outcomes = await asyncio.gather(
        *(runtime.db.write(lambda uow, name=name: change(uow, name, fail=name in failing)) for name in names),
        return_exceptions=True,
    )
    await blocker

    for name, outcome in zip(names, outcomes, strict=True):
        if name in failing:
            assert isinstance(outcome, Boom), (name, outcome)
        else:
            assert isinstance(outcome, str) and ULID.match(outcome), (name, outcome)
    committed = set(names) - failing
    assert await audited_targets(runtime) == committed
    subjects = await event_subjects(runtime)
    assert sorted(subjects) == sorted(committed)
