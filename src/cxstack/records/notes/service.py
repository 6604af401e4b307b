"""Internal notes: adding them to a customer, a case or a conversation, listing, deleting, moving.

The customer, case or conversation must exist in the tenant (a note on another tenant's record is a
NotFound naming ``target_id``). A body is 1 byte to 16 KiB of UTF-8.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.kit.errors import ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page
from cxstack.records.customers.repository import CustomerRepository
from cxstack.records.notes.models import Note
from cxstack.records.notes.repository import NoteRepository
from cxstack.records.notes.schemas import (
    MAX_BODY_BYTES,
    NoteAdded,
    NoteCreate,
    NoteDeleted,
    NoteMoved,
    NoteOut,
)
from cxstack.records.tags.service import require_target

SOURCE = "cxstack/records"


def add_note(uow: UnitOfWork, *, tenant_id: str, data: NoteCreate) -> NoteOut:
    """Add a note to a record; the author defaults to the caller (the unit of work's actor).

    Raises NotFound (``target_id``) for an unknown or another tenant's customer, case or conversation,
    ValidationFailed for a body over 16 KiB. Publishes ``note.added`` with the target as subject.
    """
    size = len(data.body.encode())
    if size > MAX_BODY_BYTES:
        raise ValidationFailed(
            f"a note body is at most {MAX_BODY_BYTES} bytes of UTF-8; this one is {size}", field="body"
        )
    require_target(
        uow.session,
        tenant_id=tenant_id,
        target_type=data.target_type,
        target_id=data.target_id,
        field="target_id",
    )
    note = Note(
        id=new_id("nte"),
        tenant_id=tenant_id,
        target_type=data.target_type,
        target_id=data.target_id,
        author=data.author or uow.context.actor,
        body=data.body,
        created_at=uow.clock.now(),
    )
    uow.session.add(note)
    uow.publish(
        NoteAdded(
            note_id=note.id,
            target_type=note.target_type,
            target_id=note.target_id,
            author=note.author,
            body=note.body,
        ),
        tenant_id=tenant_id,
        subject=note.target_id,
        source=SOURCE,
    )
    return NoteOut.model_validate(note)


def delete_note(uow: UnitOfWork, *, tenant_id: str, note_id: str) -> None:
    """Delete a note; raises NotFound. Publishes ``note.deleted``."""
    note = NoteRepository(uow.session, tenant_id).get(note_id)
    uow.session.delete(note)
    uow.publish(
        NoteDeleted(note_id=note.id, target_type=note.target_type, target_id=note.target_id),
        tenant_id=tenant_id,
        subject=note.target_id,
        source=SOURCE,
    )


def get_note(session: Session, *, tenant_id: str, note_id: str) -> NoteOut:
    """Return a note; raises NotFound."""
    return NoteOut.model_validate(NoteRepository(session, tenant_id).get(note_id))


def list_notes(
    session: Session, *, tenant_id: str, target_type: str, target_id: str, cursor: str | None, limit: int
) -> Page[NoteOut]:
    """Return a page of a record's notes, oldest first; raises NotFound, ValidationFailed."""
    require_target(
        session, tenant_id=tenant_id, target_type=target_type, target_id=target_id, field="target_id"
    )
    page = NoteRepository(session, tenant_id).list_page(
        target_type=target_type, target_id=target_id, cursor=cursor, limit=limit
    )
    return Page(items=[NoteOut.model_validate(note) for note in page.items], next_cursor=page.next_cursor)


def move_customer(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    from_customer_id: str,
    to_customer_id: str,
    note_ids: Sequence[str] | None = None,
) -> list[str]:
    """Move notes on one customer to another (all of them, or those of ``note_ids`` that are on the first
    customer; others are left alone) and return the ids moved, for a merge and its undo.

    Raises NotFound for an unknown customer, ValidationFailed when both are the same. Publishes
    ``note.moved`` per note moved.
    """
    if from_customer_id == to_customer_id:
        raise ValidationFailed("notes move between two different customers", field="to_customer_id")
    customers = CustomerRepository(uow.session, tenant_id)
    customers.get(from_customer_id)
    customers.get(to_customer_id)
    moving = NoteRepository(uow.session, tenant_id).of_target(
        target_type="customer", target_id=from_customer_id, note_ids=note_ids
    )
    for note in moving:
        note.target_id = to_customer_id
        uow.publish(
            NoteMoved(note_id=note.id, from_customer_id=from_customer_id, to_customer_id=to_customer_id),
            tenant_id=tenant_id,
            subject=to_customer_id,
            source=SOURCE,
        )
    return [note.id for note in moving]
