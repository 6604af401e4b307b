"""File record queries, each scoped to one tenant by construction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from cxstack.kit.pagination import Page, paginate
from cxstack.records.files.models import FileRecord


class FileRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def find(self, file_id: str) -> FileRecord | None:
        """Return the tenant's file ``file_id``, or None (also for another tenant's id)."""
        return self.session.scalar(
            select(FileRecord).where(FileRecord.tenant_id == self.tenant_id, FileRecord.id == file_id)
        )

    def find_by_sha256(self, sha256: str, *, conversation_id: str | None) -> FileRecord | None:
        """Return the newest of the tenant's files with these bytes that is in ``conversation_id`` or in
        no conversation yet, or None."""
        query = select(FileRecord).where(FileRecord.tenant_id == self.tenant_id, FileRecord.sha256 == sha256)
        if conversation_id is None:
            query = query.where(FileRecord.conversation_id.is_(None))
        else:
            query = query.where(
                or_(FileRecord.conversation_id == conversation_id, FileRecord.conversation_id.is_(None))
            )
        return self.session.scalar(query.order_by(FileRecord.id.desc()).limit(1))

    def of_conversation(self, conversation_id: str, ref: str) -> FileRecord | None:
        """Return the file of the conversation whose id (or, the newest, whose SHA-256) is ``ref``."""
        column = FileRecord.sha256 if len(ref) == 64 else FileRecord.id
        return self.session.scalar(
            select(FileRecord)
            .where(
                FileRecord.tenant_id == self.tenant_id,
                FileRecord.conversation_id == conversation_id,
                column == ref,
            )
            .order_by(FileRecord.id.desc())
            .limit(1)
        )

    def page_of_conversation(
        self, conversation_id: str, *, cursor: str | None, limit: int
    ) -> Page[FileRecord]:
        query = select(FileRecord).where(
            FileRecord.tenant_id == self.tenant_id, FileRecord.conversation_id == conversation_id
        )
        return paginate(self.session, query, id_column=FileRecord.id, cursor=cursor, limit=limit)

    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert file rows (each with this tenant's ``tenant_id``)."""
        if rows:
            self.session.execute(insert(FileRecord), [{**row, "tenant_id": self.tenant_id} for row in rows])

    def bind(self, file_ids: Sequence[str], *, conversation_id: str, message_id: str) -> None:
        """Put the files that are in no conversation yet into ``conversation_id``, with ``message_id``."""
        if not file_ids:
            return
        self.session.execute(
            update(FileRecord)
            .where(
                FileRecord.tenant_id == self.tenant_id,
                FileRecord.id.in_(file_ids),
                FileRecord.conversation_id.is_(None),
            )
            .values(conversation_id=conversation_id, message_id=message_id)
        )
        self.session.execute(
            update(FileRecord)
            .where(
                FileRecord.tenant_id == self.tenant_id,
                FileRecord.id.in_(file_ids),
                FileRecord.conversation_id == conversation_id,
                FileRecord.message_id.is_(None),
            )
            .values(message_id=message_id)
        )
