"""The workspace's subscriptions, registered explicitly by the composition root (``cxstack.wiring``).

``workspace.mentions``: an internal note added to a conversation (``note.added``) mentions the people its
handles name who see the conversation (``cxstack.workspace.mentions.service``), publishing
``mention.created`` for each; a note deleted (``note.deleted``) takes its mentions with it. Notes on
customers and cases mention nobody. Handling a note twice mentions nobody twice.
"""

from __future__ import annotations

from cxstack.backbone.envelope import Event
from cxstack.backbone.subscriptions import EventHandlers, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.records.notes.schemas import NoteAdded, NoteDeleted
from cxstack.workspace.mentions import service as mentions

MENTIONS = "workspace.mentions"

HANDLERS = EventHandlers()


@HANDLERS.on(NoteAdded)
def _note_added(uow: UnitOfWork, note: NoteAdded, event: Event) -> None:
    if note.target_type != "conversation":
        return
    mentions.mention_in_note(
        uow,
        tenant_id=event.tenant,
        note_id=note.note_id,
        conversation_id=note.target_id,
        author=note.author,
        body=note.body,
        at=event.time,
    )


@HANDLERS.on(NoteDeleted)
def _note_deleted(uow: UnitOfWork, note: NoteDeleted, event: Event) -> None:
    if note.target_type == "conversation":
        mentions.forget_note(uow, tenant_id=event.tenant, note_id=note.note_id)


def register(registry: SubscriptionRegistry) -> None:
    registry.add(
        MENTIONS,
        HANDLERS,
        description="Mentions of people in internal notes on conversations they see.",
    )
