"""The ``records.timeline`` subscription: turns customer, conversation, message, case and note events
into entries, and follows conversations, cases and customers when they move or merge.

Where an entry goes, whatever order the events are handled in
-------------------------------------------------------------
Delivery keeps one subject's events in order, not events of different subjects: ``customer.merged`` and
``customer.unmerged`` (subject: the target), the ``conversation.updated`` and ``case.updated`` events a
merge publishes (subject: each conversation or case), and the source customer's own events (subject:
the source) may be handled in any order, and on PostgreSQL by two workers at once. Each entry keeps the
customer its event named (``origin_customer_id``) and the log position of the event that gave it its
current customer (``owner_seq``), and these rules reach the same final state in any such order:

* A conversation's or case's entries belong to the customer named by the newest event that placed them:
  their own event, a ``conversation.updated``/``case.updated`` with a customer change, or a merge or undo
  listing that conversation or case. A move applies only to entries whose ``owner_seq`` is older than
  it, so one handled late never overrides a newer one. An entry of the conversation handled after the
  merge that moved it is placed by the conversation's own ``conversation.updated``, which comes after it
  (same subject). The merge and undo move these entries too, so the timelines are right even before
  the ``conversation.updated`` events are handled.
* Every other entry (a customer's creation, identities, notes) belongs to the customer its event named,
  carried to the target by each later merge of that customer (and on through merges of the target),
  and back to the source by the undo of that merge, unless the merge moved the identity or note and the
  undo left it with the target. The merges seen are kept (``timeline_merges``): an entry is placed
  through them when written, and a merge or undo places again every such entry it can reach. On
  PostgreSQL both hold an advisory lock on the tenant's merges (shared to write an entry, exclusive to
  handle a merge), so a worker writing an entry and one handling its customer's merge see each other.
* Handling an event twice changes nothing: entries are keyed by event id, moves are guarded by
  ``owner_seq``, and placing through merges depends only on the merges seen. A replay (reset, then the
  log in order) reaches the same state.

Known limit: a note moved by a merge and then deleted gets ``note.deleted`` under another subject than
its ``note.added``; were the delete handled first, the note's entry would come back with the add.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cxstack.backbone.envelope import Event
from cxstack.backbone.events import EventPayload
from cxstack.backbone.subscriptions import EventHandlers, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.records.cases.schemas import CaseCreated, CaseStatusChanged, CaseUpdated
from cxstack.records.conversations.schemas import (
    ConversationChannelChanged,
    ConversationClosed,
    ConversationCreated,
    ConversationReopened,
    ConversationUpdated,
    MessageDeliveryFailed,
    MessagePublished,
    MessageReceived,
    MessageSent,
)
from cxstack.records.customers.schemas import CustomerCreated, IdentityLinked
from cxstack.records.merges.schemas import CustomerMerged, CustomerUnmerged
from cxstack.records.notes.schemas import NoteAdded, NoteDeleted
from cxstack.records.timeline import service
from cxstack.records.timeline.schemas import EntryFacts

SUBSCRIPTION = "records.timeline"
SNIPPET_LENGTH = 280


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_LENGTH else flat[: SNIPPET_LENGTH - 1] + "…"


def _customer_created(data: CustomerCreated, event: Event) -> EntryFacts:
    summary = f"Customer record created: {data.name}" if data.name else "Customer record created"
    return EntryFacts(
        customer_id=data.customer_id, occurred_at=event.time, summary=summary, ref_id=data.customer_id
    )


def _identity_linked(data: IdentityLinked, event: Event) -> EntryFacts:
    what = f"{data.system} id" if data.kind == "external" else data.kind.replace("_", " ")
    return EntryFacts(
        customer_id=data.customer_id,
        occurred_at=event.time,
        summary=f"Identity linked: {what} {data.value}",
        ref_id=data.identity_id,
    )


def _conversation_created(data: ConversationCreated, event: Event) -> EntryFacts:
    summary = f"Conversation started on {data.channel}"
    return EntryFacts(
        customer_id=data.customer_id,
        occurred_at=event.time,
        summary=f"{summary}: {data.subject}" if data.subject else summary,
        ref_id=data.conversation_id,
        channel=data.channel,
        conversation_id=data.conversation_id,
    )


def _channel_changed(data: ConversationChannelChanged, event: Event) -> EntryFacts:
    return EntryFacts(
        customer_id=data.customer_id,
        occurred_at=event.time,
        summary=f"Conversation moved from {data.from_channel} to {data.to_channel}",
        ref_id=data.conversation_id,
        channel=data.to_channel,
        conversation_id=data.conversation_id,
    )


def _closed(data: ConversationClosed, event: Event) -> EntryFacts:
    plural = "" if data.message_count == 1 else "s"
    return EntryFacts(
        customer_id=data.customer_id,
        occurred_at=event.time,
        summary=f"Conversation closed after {data.message_count} message{plural}",
        ref_id=data.conversation_id,
        channel=data.channel,
        conversation_id=data.conversation_id,
    )


def _reopened(data: ConversationReopened, event: Event) -> EntryFacts:
    why = "the customer wrote again" if data.reason == "inbound_message" else "reopened on request"
    return EntryFacts(
        customer_id=data.customer_id,
        occurred_at=event.time,
        summary=f"Conversation reopened: {why}",
        ref_id=data.conversation_id,
        channel=data.channel,
        conversation_id=data.conversation_id,
    )


def _message(data: MessagePublished, event: Event) -> EntryFacts:
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


def _delivery_failed(data: MessageDeliveryFailed, event: Event) -> EntryFacts:
    how = "refused" if data.status == "refused" else "failed"
    return EntryFacts(
        customer_id=data.customer_id,
        occurred_at=event.time,
        summary=_snippet(
            f"Message not delivered by {data.channel} ({how}, {data.error_code}): {data.detail}"
        ),
        ref_id=data.message_id,
        channel=data.channel,
        conversation_id=data.conversation_id,
    )


def _case_created(data: CaseCreated, event: Event) -> EntryFacts:
    priority = "" if data.priority == "normal" else f" ({data.priority} priority)"
    return EntryFacts(
        customer_id=data.customer_id,
        occurred_at=event.time,
        summary=f"Case opened: {data.subject}{priority}",
        ref_id=data.case_id,
    )


def _case_status_changed(data: CaseStatusChanged, event: Event) -> EntryFacts:
    if data.to_status == "open" and data.from_status in ("solved", "closed"):
        summary = "Case reopened"
    elif data.to_status in ("solved", "closed"):
        summary = f"Case {data.to_status}"
    else:
        summary = (
            f"Case status changed from {data.from_status.replace('_', ' ')} "
            f"to {data.to_status.replace('_', ' ')}"
        )
    return EntryFacts(
        customer_id=data.customer_id, occurred_at=event.time, summary=summary, ref_id=data.case_id
    )


def _note_added(data: NoteAdded, event: Event) -> EntryFacts | None:
    if data.target_type != "customer":
        return None
    return EntryFacts(
        customer_id=data.target_id,
        occurred_at=event.time,
        summary=f"Note by {data.author}: {_snippet(data.body)}",
        ref_id=data.note_id,
    )


#: The entry an event of each class makes (None: that event makes none).
ENTRIES: dict[type[EventPayload], Callable[[Any, Event], EntryFacts | None]] = {
    CustomerCreated: _customer_created,
    IdentityLinked: _identity_linked,
    ConversationCreated: _conversation_created,
    ConversationChannelChanged: _channel_changed,
    ConversationClosed: _closed,
    ConversationReopened: _reopened,
    MessageReceived: _message,
    MessageSent: _message,
    MessageDeliveryFailed: _delivery_failed,
    CaseCreated: _case_created,
    CaseStatusChanged: _case_status_changed,
    NoteAdded: _note_added,
}

#: The subscription's handlers: one adding the entry of each class in ``ENTRIES``, and those of the events
#: that add no entry but move (or remove) entries (see the module docstring for why the order in which
#: they are handled does not matter).
HANDLERS = EventHandlers()


@HANDLERS.on(*ENTRIES)
def _add_entry(uow: UnitOfWork, data: EventPayload, event: Event) -> None:
    facts = ENTRIES[type(data)](data, event)
    if facts is not None:
        service.record_entry(uow, event=event, facts=facts)


@HANDLERS.on(ConversationUpdated)
def _conversation_updated(uow: UnitOfWork, moved: ConversationUpdated, event: Event) -> None:
    if "customer_id" in moved.changes:
        service.move_conversation_entries(
            uow,
            tenant_id=event.tenant,
            conversation_id=moved.conversation_id,
            customer_id=moved.changes["customer_id"],
            seq=event.seq,
        )


@HANDLERS.on(CaseUpdated)
def _case_updated(uow: UnitOfWork, moved: CaseUpdated, event: Event) -> None:
    if "customer_id" in moved.changes:
        service.move_case_entries(
            uow,
            tenant_id=event.tenant,
            case_id=moved.case_id,
            customer_id=moved.changes["customer_id"],
            seq=event.seq,
        )


@HANDLERS.on(CustomerMerged)
def _customer_merged(uow: UnitOfWork, merged: CustomerMerged, event: Event) -> None:
    service.merge_customer_entries(
        uow,
        tenant_id=event.tenant,
        merge_id=merged.merge_id,
        source_customer_id=merged.source_customer_id,
        target_customer_id=merged.target_customer_id,
        moved=merged.moved,
        seq=event.seq,
    )


@HANDLERS.on(CustomerUnmerged)
def _customer_unmerged(uow: UnitOfWork, unmerged: CustomerUnmerged, event: Event) -> None:
    service.unmerge_customer_entries(
        uow,
        tenant_id=event.tenant,
        merge_id=unmerged.merge_id,
        source_customer_id=unmerged.source_customer_id,
        target_customer_id=unmerged.target_customer_id,
        moved_back=unmerged.moved_back,
        seq=event.seq,
    )


@HANDLERS.on(NoteDeleted)
def _note_deleted(uow: UnitOfWork, deleted: NoteDeleted, event: Event) -> None:
    service.delete_note_entries(uow, tenant_id=event.tenant, note_id=deleted.note_id)


def project_events(units: Sequence[tuple[UnitOfWork, EventPayload, Event]]) -> None:
    """The handlers on each event in turn, but the entries of a run of events that only add entries
    (nearly every event: messages, new customers and conversations) written in one statement."""
    run: list[tuple[Event, EntryFacts]] = []
    for uow, data, event in units:
        describe = ENTRIES.get(type(data))
        if describe is not None:
            facts = describe(data, event)
            if facts is not None:
                run.append((event, facts))
            continue
        # Anything else may read, move or place entries (a merge): those of the run go in first.
        service.record_entries(uow, run)
        run = []
        HANDLERS.dispatch(uow, data, event)
    if run:
        service.record_entries(units[-1][0], run)


def register(registry: SubscriptionRegistry) -> None:
    registry.add(
        SUBSCRIPTION,
        HANDLERS,
        batch_handler=project_events,
        reset=service.clear_timeline,
        description="Every interaction of a customer, on every channel, in order (a projection).",
    )
