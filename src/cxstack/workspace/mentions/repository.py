"""Mention queries, each scoped to one tenant by construction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cxstack.kit.pagination import Page, paginate
from cxstack.workspace.mentions.models import Mention


class MentionRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def of_user(self, mention_id: str, user_id: str) -> Mention | None:
        return self.session.scalar(
            select(Mention).where(
                Mention.tenant_id == self.tenant_id, Mention.id == mention_id, Mention.user_id == user_id
            )
        )

    def users_of_note(self, note_id: str) -> set[str]:
        return set(
            self.session.scalars(
                select(Mention.user_id).where(Mention.tenant_id == self.tenant_id, Mention.note_id == note_id)
            )
        )

    def delete_of_note(self, note_id: str) -> None:
        self.session.execute(
            delete(Mention)
            .where(Mention.tenant_id == self.tenant_id, Mention.note_id == note_id)
            .execution_options(synchronize_session=False)
        )

    def page_of_user(
        self, user_id: str, *, unread: bool | None, cursor: str | None, limit: int
    ) -> Page[Mention]:
        """A page of the user's mentions, newest first (``unread``: only those not read, or only read)."""
        query = select(Mention).where(Mention.tenant_id == self.tenant_id, Mention.user_id == user_id)
        if unread is not None:
            query = query.where(Mention.read_at.is_(None) if unread else Mention.read_at.is_not(None))
        return paginate(
            self.session, query, id_column=Mention.id, cursor=cursor, limit=limit, descending=True
        )

    def add_all(self, mentions: Sequence[Mention]) -> None:
        self.session.add_all(mentions)
