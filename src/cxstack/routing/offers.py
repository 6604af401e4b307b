"""Recording the engine's decisions: the offers it makes (``routing.offered``, timed out by a durable
timer), work waiting again, widening waits and wrap-ups; what every change of routing ends with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.backbone.timers import schedule_timer
from cxstack.kit.errors import NotFound
from cxstack.routing.held import SOURCE, Routing
from cxstack.routing.model import Offer, Presence, Requeued
from cxstack.routing.models import RoutingAgent, RoutingItem, RoutingQueue
from cxstack.routing.schemas import (
    AgentPresenceChanged,
    RoutingItemEvent,
    RoutingOffered,
    RoutingOfferTimedOut,
    RoutingWaitWidened,
)


def event_base(item: RoutingItem) -> dict[str, str]:
    return {
        "item_id": item.id,
        "conversation_id": item.conversation_id,
        "queue_id": item.queue_id,
        "channel": item.channel,
    }


def publish_item_event(held: Routing, item: RoutingItem, event: RoutingItemEvent) -> None:
    held.uow.publish(event, tenant_id=held.tenant_id, subject=item.conversation_id, source=SOURCE)


def schedule_widenings(held: Routing, item: RoutingItem, times: Sequence[float]) -> None:
    for number, when in enumerate(times):
        schedule_timer(
            held.uow,
            tenant_id=held.tenant_id,
            key=f"routing.widen.{item.id}.{number}",
            fire_at=datetime.fromtimestamp(when, tz=held.at.tzinfo),
            subject=item.conversation_id,
            event=RoutingWaitWidened(item_id=item.id),
        )


def make_offers(held: Routing) -> list[Offer]:
    """Make the offers the engine finds now: record each, publish ``routing.offered`` and time it out."""
    offers = held.engine.route(held.now)
    if not offers:
        return offers
    session = held.session
    items = {
        item.id: item
        for item in session.scalars(
            select(RoutingItem).where(RoutingItem.id.in_([o.item_id for o in offers]))
        )
    }
    timeouts = {
        queue.id: queue.offer_timeout_seconds
        for queue in session.scalars(
            select(RoutingQueue).where(RoutingQueue.id.in_({o.queue_id for o in offers}))
        )
    }
    for offer in offers:
        item = items[offer.item_id]
        offer_item(held, item, offer, timeout_s=timeouts.get(offer.queue_id, 30))
    return offers


def offer_item(held: Routing, item: RoutingItem, offer: Offer, *, timeout_s: int) -> None:
    expires = held.at + timedelta(seconds=timeout_s)
    item.state = "offered"
    item.agent_id = offer.agent_id
    item.queue_id = offer.queue_id
    item.offers += 1
    item.offer_expires_at = expires
    reason = offer.reason
    publish_item_event(
        held,
        item,
        RoutingOffered(
            **event_base(item),
            agent_id=offer.agent_id,
            offer=item.offers,
            expires_at=expires,
            strategy=reason.strategy,
            matched_skills=dict(reason.matched_skills),
            fallback_step=reason.fallback_step,
            wait_seconds=round(reason.wait_seconds, 3),
        ),
    )
    schedule_timer(
        held.uow,
        tenant_id=held.tenant_id,
        key=f"routing.offer.{item.id}",
        fire_at=expires,
        subject=item.conversation_id,
        event=RoutingOfferTimedOut(item_id=item.id, offer=item.offers),
    )


def item_row(session: Session, tenant_id: str, item_id: str) -> RoutingItem:
    item = session.get(RoutingItem, item_id)
    if item is None or item.tenant_id != tenant_id:
        raise NotFound(f"no work item {item_id}", field="item_id")
    return item


def waiting_again(item: RoutingItem, requeued: Requeued) -> None:
    item.state = "waiting"
    item.agent_id = None
    item.offer_expires_at = None
    item.declines = requeued.declines
    item.queue_id = requeued.queue_id


def start_wrap_up(held: Routing, agent_id: str, until_s: float) -> None:
    agent = held.session.get(RoutingAgent, agent_id)
    if agent is None:
        return
    until = datetime.fromtimestamp(until_s, tz=held.at.tzinfo)
    previous = agent.presence
    agent.presence = Presence.WRAP_UP.value
    agent.presence_since = held.at
    agent.wrap_up_until = until
    held.uow.publish(
        AgentPresenceChanged(agent_id=agent_id, presence="wrap_up", previous=previous, until=until),
        tenant_id=held.tenant_id,
        subject=agent_id,
        source=SOURCE,
    )
    schedule_timer(
        held.uow,
        tenant_id=held.tenant_id,
        key=f"routing.wrap_up.{agent_id}",
        fire_at=until,
        subject=agent_id,
        event=AgentPresenceChanged(agent_id=agent_id, presence="available", previous="wrap_up"),
    )
