"""Inbound rules: which queue new work goes to."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.records.conversations.service import get_conversation
from cxstack.records.customers.service import get_customer
from cxstack.routing.models import RoutingQueue


def choose_queue(
    session: Session,
    *,
    tenant_id: str,
    channel: str,
    queue_name: str | None = None,
    conversation_id: str | None = None,
    customer_id: str | None = None,
) -> tuple[RoutingQueue, str] | None:
    """Return the queue new work goes to and why: the queue named (a voice menu's choice), else the first
    queue by position that takes the channel and whose conditions the conversation and its customer meet;
    None when no queue takes it."""
    queues = list(
        session.scalars(
            select(RoutingQueue)
            .where(RoutingQueue.tenant_id == tenant_id)
            .order_by(RoutingQueue.position, RoutingQueue.name)
        )
    )
    if queue_name is not None:
        for queue in queues:
            if queue.name.casefold() == queue_name.casefold():
                return queue, f"the voice menu chose queue {queue.name!r}"
    facts: dict[str, str] | None = None
    for queue in queues:
        if channel not in queue.channels:
            continue
        if not queue.conditions:
            return queue, f"queue {queue.name!r} takes new {channel} work"
        if facts is None:
            facts = _facts(session, tenant_id, conversation_id, customer_id)
        if all(facts.get(key) == value for key, value in queue.conditions.items()):
            met = ", ".join(f"{key} = {value}" for key, value in sorted(queue.conditions.items()))
            return queue, f"queue {queue.name!r} takes new {channel} work where {met}"
    return None


def _facts(
    session: Session, tenant_id: str, conversation_id: str | None, customer_id: str | None
) -> dict[str, str]:
    """The attributes queue conditions look at: ``conversation.<key>`` and ``customer.<key>``."""
    facts: dict[str, str] = {}
    if conversation_id is not None:
        conversation = get_conversation(session, tenant_id=tenant_id, conversation_id=conversation_id)
        facts.update({f"conversation.{k}": str(v) for k, v in conversation.attributes.items()})
        customer_id = customer_id or conversation.customer_id
    if customer_id is not None:
        customer = get_customer(session, tenant_id=tenant_id, customer_id=customer_id)
        facts.update({f"customer.{k}": str(v) for k, v in customer.attributes.items()})
    return facts
