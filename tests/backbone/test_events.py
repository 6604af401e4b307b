"""Event classes: each names its type and version once; the catalog and subscriptions are built from them."""

from __future__ import annotations

import pytest

from cxstack.backbone.catalog import EventCatalog
from cxstack.backbone.envelope import Event
from cxstack.backbone.events import EventPayload
from cxstack.backbone.subscriptions import EventHandlers, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.records.conversations.schemas import MessagePublished, MessageReceived, MessageSent
from cxstack.records.customers.schemas import CustomerCreated, CustomerUpdated
from cxstack.wiring import build_catalog


class ProbeRecorded(EventPayload, type="probe.recorded", version=3):
    """A probe was recorded.

    What follows the first paragraph is not part of the description.
    """

    n: int


@pytest.mark.parametrize(
    "name", ["probe", "Probe.recorded", "probe.", "probe.recorded-now", "probe recorded", "1probe.recorded"]
)
def test_a_class_with_a_malformed_type_name_is_refused_when_it_is_defined(name: str) -> None:
    with pytest.raises(TypeError, match=r"noun\.verb"):

        class Malformed(EventPayload, type=name):
            """A malformed event."""


def test_an_event_class_needs_a_docstring_and_a_version_of_one_or_more() -> None:
    with pytest.raises(TypeError, match="docstring"):

        class Undescribed(EventPayload, type="probe.undescribed"):
            n: int

    with pytest.raises(TypeError, match="version"):

        class Unversioned(EventPayload, type="probe.unversioned", version=0):
            """An event of version 0."""


def test_an_event_class_carries_its_type_version_schema_and_description() -> None:
    assert ProbeRecorded.event_type == "probe.recorded"
    assert ProbeRecorded.event_version == 3
    assert ProbeRecorded.event_dataschema == "urn:cxstack:event:probe.recorded:v3"
    assert ProbeRecorded.event_description == "A probe was recorded."
    # A base names no type, and a subclass does not inherit its parent's.
    assert MessagePublished.event_type == ""
    assert (MessageReceived.event_type, MessageSent.event_type) == ("message.received", "message.sent")

    class Extended(ProbeRecorded):
        extra: str

    assert Extended.event_type == ""


def test_payloads_are_frozen_and_ignore_fields_they_no_longer_have() -> None:
    probe = ProbeRecorded.model_validate({"n": 1, "dropped_since": "x"})

    assert probe == ProbeRecorded(n=1)
    with pytest.raises(ValueError, match="frozen"):
        probe.n = 2  # type: ignore[misc]


def test_the_catalog_is_built_from_the_classes_and_lists_them_by_type() -> None:
    catalog = EventCatalog([CustomerUpdated, ProbeRecorded, CustomerCreated])

    assert [payload.event_type for payload in catalog] == [
        "customer.created",
        "customer.updated",
        "probe.recorded",
    ]
    assert catalog.get("probe.recorded") is ProbeRecorded
    assert "probe.recorded" in catalog and ProbeRecorded in catalog
    assert MessageSent not in catalog and "message.sent" not in catalog
    with pytest.raises(ValueError, match="twice"):
        catalog.add(ProbeRecorded)
    with pytest.raises(ValueError, match="names no event type"):
        catalog.add(MessagePublished)


def test_every_event_class_of_cxstack_is_in_the_catalog_once() -> None:
    catalog = build_catalog()

    assert len(catalog) == len({payload.event_type for payload in catalog})
    assert MessageReceived in catalog and CustomerCreated in catalog


def test_handlers_are_registered_per_class_and_a_subscription_reads_only_their_types() -> None:
    handlers = EventHandlers({CustomerCreated: lambda uow, data, event: None})

    @handlers.on(MessageReceived, MessageSent)
    def _message(uow: UnitOfWork, data: MessagePublished, event: Event) -> None:
        """Both message classes at one handler."""

    assert handlers.payloads == (CustomerCreated, MessageReceived, MessageSent)
    with pytest.raises(ValueError, match="has a handler already"):
        handlers.add(MessageSent, handler=_message)
    with pytest.raises(ValueError, match="names no event type"):
        handlers.add(MessagePublished, handler=_message)

    registry = SubscriptionRegistry()
    subscription = registry.add("test.typed", handlers)
    assert subscription.types == {"customer.created", "message.received", "message.sent"}
    with pytest.raises(ValueError, match="handles no event class"):
        registry.add("test.empty", EventHandlers())
