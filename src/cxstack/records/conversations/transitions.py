"""Changes of a conversation's state that several operations make (an update, a close, a message that moves
or reopens it), each with the event it publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cxstack.backbone.events import EventPayload
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.records.conversations.models import Conversation
from cxstack.records.conversations.schemas import (
    ConversationChannelChanged,
    ConversationClosed,
    ConversationReopened,
    ConversationUpdated,
)

SOURCE = "cxstack/records"


def _publish(uow: UnitOfWork, conversation: Conversation, event: EventPayload) -> None:
    uow.publish(event, tenant_id=conversation.tenant_id, subject=conversation.id, source=SOURCE)


def publish_updated(
    uow: UnitOfWork, conversation: Conversation, changes: dict[str, Any], previous: dict[str, Any]
) -> None:
    """Publish ``conversation.updated`` with the fields changed (``changes``) and their values before."""
    _publish(
        uow,
        conversation,
        ConversationUpdated(
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            changes=changes,
            previous=previous,
        ),
    )


def change_channel(uow: UnitOfWork, conversation: Conversation, channel: str, *, at: datetime) -> None:
    """Move the conversation to ``channel``; publishes ``conversation.channel_changed``."""
    previous = conversation.channel
    conversation.channel = channel
    conversation.updated_at = at
    _publish(
        uow,
        conversation,
        ConversationChannelChanged(
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            from_channel=previous,
            to_channel=channel,
        ),
    )


def close(uow: UnitOfWork, conversation: Conversation, *, at: datetime) -> None:
    """Close the conversation; publishes ``conversation.closed``."""
    conversation.status = "closed"
    conversation.closed_at = at
    conversation.updated_at = at
    _publish(
        uow,
        conversation,
        ConversationClosed(
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            channel=conversation.channel,
            message_count=conversation.message_count,
        ),
    )


def reopen(uow: UnitOfWork, conversation: Conversation, *, status: str, reason: str, at: datetime) -> None:
    """Reopen a closed conversation with ``status``; publishes ``conversation.reopened`` with ``reason``."""
    conversation.status = status
    conversation.closed_at = None
    conversation.updated_at = at
    _publish(
        uow,
        conversation,
        ConversationReopened(
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            channel=conversation.channel,
            status=status,
            reason=reason,
        ),
    )
