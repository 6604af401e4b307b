"""Note queries, each scoped to one tenant by construction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.kit.errors import NotFound
from cxstack.kit.pagination import Page, paginate
from cxstack.records.notes.models import Note


class NoteRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def get(self, note_id: str) -> Note:
        """Return the note; raises NotFound (also for another tenant's id)."""
        note = self.session.scalar(select(Note).where(Note.tenant_id == self.tenant_id, Note.id == note_id))
        if note is None:
            raise NotFound(f"note {note_id} does not exist", field="note_id")
        return note

    def of_target(
        self, *, target_type: str, target_id: str, note_ids: Sequence[str] | None = None
    ) -> list[Note]:
        """Return a target's notes (only those among ``note_ids`` when given), oldest first."""
        query = select(Note).where(
            Note.tenant_id == self.tenant_id, Note.target_type == target_type, Note.target_id == target_id
        )
        if note_ids is not None:
            query = query.where(Note.id.in_(note_ids))
        return list(self.session.scalars(query.order_by(Note.id)))

    def list_page(self, *, target_type: str, target_id: str, cursor: str | None, limit: int) -> Page[Note]:
        query = select(Note).where(
            Note.tenant_id == self.tenant_id, Note.target_type == target_type, Note.target_id == target_id
        )
        return paginate(self.session, query, id_column=Note.id, cursor=cursor, limit=limit)
