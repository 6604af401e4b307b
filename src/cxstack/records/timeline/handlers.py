"""The ``records.timeline`` subscription: turns customer, conversation and message events into entries."""

from __future__ import annotations

from collections.abc import Callable

from cxstack.backbone.envelope import Event
from cxstack.backbone.subscriptions import SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.records.conversations.schemas import (
    ConversationChannelChanged,
    ConversationClosed,
    ConversationCreated,
    ConversationReopened,
    ConversationUpdated,
    MessagePublished,
)
from cxstack.records.customers.schemas import CustomerCreated, IdentityLinked
from cxstack.records.timeline import service
from cxstack.records.timeline.schemas import EntryFacts

SUBSCRIPTION = "records.timeline"
SNIPPET_LENGTH = 280


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_LENGTH else flat[: SNIPPET_LENGTH - 1] + "…"


def _customer_created(event: Event) -> EntryFacts:
    data = CustomerCreated.model_validate(event.data)
    summary = f"Customer record created: {data.name}" if data.name else "Customer record created"
    return EntryFacts(
        customer_id=data.customer_id, occurred_at=event.time, summary=summary, ref_id=data.customer_id
    )


def _identity_linked(event: Event) -> EntryFacts:
    data = IdentityLinked.model_validate(event.data)
    what = f"{data.system} id" if data.kind == "external" else data.kind.replace("_", " ")
    return EntryFacts(
        customer_id=data.customer_id,
        occurred_at=event.time,
        summary=f"Identity linked: {what} {data.value}",
        ref_id=data.identity_id,
    )


def _conversation_created(event: Event) -> EntryFacts:
    data = ConversationCreated.model_validate(event.data)
    summary = f"Conversation started on {data.channel}"
    return EntryFacts(
        customer_id=data.customer_id,
        occurred_at=event.time,
        summary=f"{summary}: {data.subject}" if data.subject else summary,
        ref_id=data.conversation_id,
        channel=data.channel,
        conversation_id=data.conversation_id,
    )


def _channel_changed(event: Event) -> EntryFacts:
    data = ConversationChannelChanged.model_validate(event.data)
    return EntryFacts(
        customer_id=data.customer_id,
        occurred_at=event.time,
        summary=f"Conversation moved from {data.from_channel} to {data.to_channel}",
        ref_id=data.conversation_id,
        channel=data.to_channel,
        conversation_id=data.conversation_id,
    )


def _closed(event: Event) -> EntryFacts:
    data = ConversationClosed.model_validate(event.data)
    plural = "" if data.message_count == 1 else "s"
    return EntryFacts(
        customer_id=data.customer_id,
        occurred_at=event.time,
        summary=f"Conversation closed after {data.message_count} message{plural}",
        ref_id=data.conversation_id,
        channel=data.channel,
        conversation_id=data.conversation_id,
    )


def _reopened(event: Event) -> EntryFacts:
    data = ConversationReopened.model_validate(event.data)
    why = "the customer wrote again" if data.reason == "inbound_message" else "reopened on request"
    return EntryFacts(
        customer_id=data.customer_id,
        occurred_at=event.time,
        summary=f"Conversation reopened: {why}",
        ref_id=data.conversation_id,
        channel=data.channel,
        conversation_id=data.conversation_id,
    )


def _message(event: Event) -> EntryFacts:
    data = MessagePublished.model_validate(event.data)
    summary = _snippet(data.body)
    if not summary:
        plural = "" if data.attachments_count == 1 else "s"
        summary = f"[{data.attachments_count} attachment{plural}]"
    return EntryFacts(
        customer_id=data.customer_id,
        occurred_at=event.time,
        summary=summary,
        ref_id=data.message_id,
        channel=data.channel,
        conversation_id=data.conversation_id,
    )


ENTRIES: dict[str, Callable[[Event], EntryFacts]] = {
    "customer.created": _customer_created,
    "identity.linked": _identity_linked,
    "conversation.created": _conversation_created,
    "conversation.channel_changed": _channel_changed,
    "conversation.closed": _closed,
    "conversation.reopened": _reopened,
    "message.received": _message,
    "message.sent": _message,
}


def project_event(uow: UnitOfWork, event: Event) -> None:
    """Add the entry an event makes, or follow a conversation to the customer it moved to."""
    if event.type == "conversation.updated":
        data = ConversationUpdated.model_validate(event.data)
        if "customer_id" in data.changes:
            service.move_conversation_entries(
                uow,
                tenant_id=event.tenant,
                conversation_id=data.conversation_id,
                customer_id=data.changes["customer_id"],
            )
        return
    describe = ENTRIES.get(event.type)
    if describe is not None:
        service.record_entry(uow, event=event, facts=describe(event))


def register(registry: SubscriptionRegistry) -> None:
    registry.add(
        SUBSCRIPTION,
        project_event,
        types=[*ENTRIES, "conversation.updated"],
        reset=service.clear_timeline,
        description="Every interaction of a customer, on every channel, in order (a projection).",
    )
