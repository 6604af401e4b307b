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

from cxstack.backbone.envelope import Event
from cxstack.backbone.subscriptions import SubscriptionRegistry
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


def _delivery_failed(event: Event) -> EntryFacts:
    data = MessageDeliveryFailed.model_validate(event.data)
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


def _case_created(event: Event) -> EntryFacts:
    data = CaseCreated.model_validate(event.data)
    priority = "" if data.priority == "normal" else f" ({data.priority} priority)"
    return EntryFacts(
        customer_id=data.customer_id,
        occurred_at=event.time,
        summary=f"Case opened: {data.subject}{priority}",
        ref_id=data.case_id,
    )


def _case_status_changed(event: Event) -> EntryFacts:
    data = CaseStatusChanged.model_validate(event.data)
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


def _note_added(event: Event) -> EntryFacts | None:
    data = NoteAdded.model_validate(event.data)
    if data.target_type != "customer":
        return None
    return EntryFacts(
        customer_id=data.target_id,
        occurred_at=event.time,
        summary=f"Note by {data.author}: {_snippet(data.body)}",
        ref_id=data.note_id,
    )


ENTRIES: dict[str, Callable[[Event], EntryFacts | None]] = {
    "customer.created": _customer_created,
    "identity.linked": _identity_linked,
    "conversation.created": _conversation_created,
    "conversation.channel_changed": _channel_changed,
    "conversation.closed": _closed,
    "conversation.reopened": _reopened,
    "message.received": _message,
    "message.sent": _message,
    "message.delivery_failed": _delivery_failed,
    "case.created": _case_created,
    "case.status_changed": _case_status_changed,
    "note.added": _note_added,
}


def _follow(uow: UnitOfWork, event: Event) -> None:
    """Apply an event that moves entries (see the module docstring for why the order does not matter)."""
    if event.type == "conversation.updated":
        moved_conversation = ConversationUpdated.model_validate(event.data)
        if "customer_id" in moved_conversation.changes:
            service.move_conversation_entries(
                uow,
                tenant_id=event.tenant,
                conversation_id=moved_conversation.conversation_id,
                customer_id=moved_conversation.changes["customer_id"],
                seq=event.seq,
            )
    elif event.type == "case.updated":
        moved_case = CaseUpdated.model_validate(event.data)
        if "customer_id" in moved_case.changes:
            service.move_case_entries(
                uow,
                tenant_id=event.tenant,
                case_id=moved_case.case_id,
                customer_id=moved_case.changes["customer_id"],
                seq=event.seq,
            )
    elif event.type == "customer.merged":
        merged = CustomerMerged.model_validate(event.data)
        service.merge_customer_entries(
            uow,
            tenant_id=event.tenant,
            merge_id=merged.merge_id,
            source_customer_id=merged.source_customer_id,
            target_customer_id=merged.target_customer_id,
            moved=merged.moved,
            seq=event.seq,
        )
    elif event.type == "customer.unmerged":
        unmerged = CustomerUnmerged.model_validate(event.data)
        service.unmerge_customer_entries(
            uow,
            tenant_id=event.tenant,
            merge_id=unmerged.merge_id,
            source_customer_id=unmerged.source_customer_id,
            target_customer_id=unmerged.target_customer_id,
            moved_back=unmerged.moved_back,
            seq=event.seq,
        )
    elif event.type == "note.deleted":
        deleted = NoteDeleted.model_validate(event.data)
        service.delete_note_entries(uow, tenant_id=event.tenant, note_id=deleted.note_id)


#: Events that add no entry but move (or remove) entries.
FOLLOWED = ("conversation.updated", "case.updated", "customer.merged", "customer.unmerged", "note.deleted")


def project_event(uow: UnitOfWork, event: Event) -> None:
    """Add the entry an event makes, or move entries after a conversation, case or customer that moved
    or merged (a deleted note's entry is removed)."""
    describe = ENTRIES.get(event.type)
    if describe is None:
        _follow(uow, event)
        return
    facts = describe(event)
    if facts is not None:
        service.record_entry(uow, event=event, facts=facts)


def project_events(units: Sequence[tuple[UnitOfWork, Event]]) -> None:
    """``project_event`` on each event in turn, but the entries of conversations and cases (nearly every
    event: messages) written in one statement per run of them."""
    run: list[tuple[Event, EntryFacts]] = []
    for uow, event in units:
        describe = ENTRIES.get(event.type)
        facts = describe(event) if describe is not None else None
        if facts is not None and service.follows_a_record(event.type, facts.conversation_id):
            run.append((event, facts))
            continue
        # Anything else may read or move entries: those of the run go in first.
        service.record_entries_of_records(uow, run)
        run = []
        project_event(uow, event)
    if run:
        service.record_entries_of_records(units[-1][0], run)


def register(registry: SubscriptionRegistry) -> None:
    registry.add(
        SUBSCRIPTION,
        project_event,
        batch_handler=project_events,
        types=[*ENTRIES, *FOLLOWED],
        reset=service.clear_timeline,
        description="Every interaction of a customer, on every channel, in order (a projection).",
    )
