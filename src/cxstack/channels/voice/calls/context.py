"""The agent's view of a call: the caller's record, the whole conversation across channels, what was
collected before the call, and the menu choice, read through the records' services."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cxstack.channels.voice.repository import VoiceRepository
from cxstack.channels.voice.schemas import CallContext, CallOut
from cxstack.kit.pagination import MAX_PAGE_SIZE
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import MessageOut
from cxstack.records.customers import service as customers

#: The most messages a context carries (the newest are dropped past it; the conversation has them all).
MAX_TRANSCRIPT = 5000


def call_context(session: Session, *, tenant_id: str, call_id: str) -> CallContext:
    """Return what an agent needs to take the call without the customer repeating anything; raises
    NotFound."""
    call = VoiceRepository(session, tenant_id).get_call(call_id)
    conversation = conversations.get_conversation(
        session, tenant_id=tenant_id, conversation_id=call.conversation_id
    )
    customer = customers.get_customer(session, tenant_id=tenant_id, customer_id=conversation.customer_id)
    transcript: list[MessageOut] = []
    cursor: str | None = None
    while len(transcript) < MAX_TRANSCRIPT:
        page = conversations.list_messages(
            session, tenant_id=tenant_id, conversation_id=conversation.id, cursor=cursor, limit=MAX_PAGE_SIZE
        )
        transcript.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    return CallContext(
        call=CallOut.model_validate(call),
        customer=customer,
        conversation=conversation,
        collected=conversation.attributes,
        transcript=transcript[:MAX_TRANSCRIPT],
        ivr=call.ivr,
    )
