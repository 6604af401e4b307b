"""Conversation and message queries, each scoped to one tenant by construction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cxstack.backbone.errors import NotFound
from cxstack.backbone.pagination import Page, paginate
from cxstack.records.conversations.models import Conversation, Message

#: Ids per statement when updating many rows (well under every driver's parameter limit).
_CHUNK = 500


class ConversationRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def find(self, conversation_id: str, *, for_update: bool = False) -> Conversation | None:
        query = select(Conversation).where(
            Conversation.tenant_id == self.tenant_id, Conversation.id == conversation_id
        )
        if for_update:
            # On PostgreSQL writers of one conversation queue here, so counters and client ids stay
            # consistent; SQLite has one writer already and ignores the clause.
            query = query.with_for_update()
        return self.session.scalar(query)

    def get(self, conversation_id: str, *, for_update: bool = False) -> Conversation:
        """Return the conversation; raises NotFound (also for another tenant's id)."""
        conversation = self.find(conversation_id, for_update=for_update)
        if conversation is None:
            raise NotFound(f"conversation {conversation_id} does not exist", field="conversation_id")
        return conversation

    def list_page(
        self,
        *,
        cursor: str | None,
        limit: int,
        customer_id: str | None = None,
        status: str | None = None,
        channel: str | None = None,
        assignee: str | None = None,
        updated_after: datetime | None = None,
        descending: bool = False,
    ) -> Page[Conversation]:
        query = select(Conversation).where(Conversation.tenant_id == self.tenant_id)
        if customer_id is not None:
            query = query.where(Conversation.customer_id == customer_id)
        if status is not None:
            query = query.where(Conversation.status == status)
        if channel is not None:
            query = query.where(Conversation.channel == channel)
        if assignee is not None:
            query = query.where(Conversation.assignee == assignee)
        if updated_after is not None:
            query = query.where(Conversation.updated_at > updated_after)
        return paginate(
            self.session, query, id_column=Conversation.id, cursor=cursor, limit=limit, descending=descending
        )

    def ids_of_customer(self, customer_id: str, *, among: Sequence[str] | None = None) -> list[str]:
        """Return the ids of the customer's conversations (only those in ``among`` when given), in order."""
        query = select(Conversation.id).where(
            Conversation.tenant_id == self.tenant_id, Conversation.customer_id == customer_id
        )
        if among is not None:
            query = query.where(Conversation.id.in_(among))
        return list(self.session.scalars(query.order_by(Conversation.id)))

    def reassign_customer(self, conversation_ids: Sequence[str], *, customer_id: str, at: datetime) -> None:
        """Point the conversations and all their messages at another customer."""
        for start in range(0, len(conversation_ids), _CHUNK):
            chunk = list(conversation_ids[start : start + _CHUNK])
            self.session.execute(
                update(Conversation)
                .where(Conversation.tenant_id == self.tenant_id, Conversation.id.in_(chunk))
                .values(customer_id=customer_id, updated_at=at)
            )
            self.session.execute(
                update(Message)
                .where(Message.tenant_id == self.tenant_id, Message.conversation_id.in_(chunk))
                .values(customer_id=customer_id)
            )

    # -- messages ----------------------------------------------------------------------------------

    def find_message_by_client_id(self, conversation_id: str, client_id: str) -> Message | None:
        return self.session.scalar(
            select(Message).where(
                Message.conversation_id == conversation_id,
                Message.client_id == client_id,
                Message.tenant_id == self.tenant_id,
            )
        )

    def messages_page(self, conversation_id: str, *, cursor: str | None, limit: int) -> Page[Message]:
        query = select(Message).where(
            Message.tenant_id == self.tenant_id, Message.conversation_id == conversation_id
        )
        return paginate(self.session, query, id_column=Message.id, cursor=cursor, limit=limit)
