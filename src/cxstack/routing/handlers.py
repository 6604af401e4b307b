"""Routing's subscription: every new conversation on every channel, and every queued call, becomes work to
route; a closed conversation ends its work; offers time out and waits widen through durable timers. Work
queued, transferred or escalated to a queue becomes the work of that queue's teams, work transferred to a
team that team's (who of the tenant's people see the conversation follows from it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, cast

from cxstack.backbone.envelope import Event
from cxstack.backbone.events import EventPayload
from cxstack.backbone.subscriptions import EventHandlers, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import (
    ConversationClosed,
    ConversationCreated,
    ConversationReopened,
)
from cxstack.routing import config, held, inbound, work
from cxstack.routing.models import RoutingQueue
from cxstack.routing.schemas import (
    AgentConnectionLost,
    AgentPresenceChanged,
    RoutingEscalated,
    RoutingOfferTimedOut,
    RoutingQueued,
    RoutingTransferred,
    RoutingWaitWidened,
)

SUBSCRIPTION = "routing.work"


def _routed(created: ConversationCreated) -> bool:
    """Whether a new conversation is work to route: a call is routed once its menu has chosen a queue
    (call.queued); work an agent started is theirs; a conversation created closed is no work."""
    return created.channel != "voice" and created.assignee is None and created.status != "closed"


class QueuedCall(Protocol):
    """What routing reads of the voice channel's ``call.queued`` (the class is handed over by the
    composition root: a layer imports no other layer)."""

    call_id: str
    customer_id: str
    conversation_id: str
    queue: str
    escalation_id: str | None


def register(
    registry: SubscriptionRegistry,
    routers: held.Routers,
    *,
    call_queued: type[EventPayload] | None = None,
) -> None:
    """Register routing's subscription; ``call_queued``: the payload class of a call waiting for an agent
    (fields as ``QueuedCall``)."""
    handlers = EventHandlers()

    @handlers.on(ConversationCreated)
    def _created(uow: UnitOfWork, created: ConversationCreated, event: Event) -> None:
        if not _routed(created):
            return
        work.enqueue(
            uow,
            routers,
            tenant_id=event.tenant,
            conversation_id=created.conversation_id,
            customer_id=created.customer_id,
            channel=created.channel,
        )

    @handlers.on(ConversationReopened)
    def _reopened(uow: UnitOfWork, reopened: ConversationReopened, event: Event) -> None:
        if reopened.channel == "voice":
            return
        work.enqueue(
            uow,
            routers,
            tenant_id=event.tenant,
            conversation_id=reopened.conversation_id,
            customer_id=reopened.customer_id,
            channel=reopened.channel,
        )

    def _call_queued(uow: UnitOfWork, payload: EventPayload, event: Event) -> None:
        queued = cast(QueuedCall, payload)
        work.enqueue(
            uow,
            routers,
            tenant_id=event.tenant,
            conversation_id=queued.conversation_id,
            customer_id=queued.customer_id,
            channel="voice",
            kind="call",
            call_id=queued.call_id,
            queue_name=queued.queue,
            escalation_id=queued.escalation_id,
        )

    if call_queued is not None:
        handlers.add(call_queued, handler=_call_queued)

    @handlers.on(ConversationClosed)
    def _closed(uow: UnitOfWork, closed: ConversationClosed, event: Event) -> None:
        work.end_work(uow, routers, tenant_id=event.tenant, conversation_id=closed.conversation_id)

    @handlers.on(RoutingOfferTimedOut)
    def _timed_out(uow: UnitOfWork, timed_out: RoutingOfferTimedOut, event: Event) -> None:
        work.expire_offer(
            uow, routers, tenant_id=event.tenant, item_id=timed_out.item_id, offer=timed_out.offer
        )

    @handlers.on(RoutingWaitWidened)
    def _widened(uow: UnitOfWork, widened: RoutingWaitWidened, event: Event) -> None:
        work.route_again(uow, routers, tenant_id=event.tenant, item_id=widened.item_id)

    @handlers.on(AgentPresenceChanged)
    def _presence(uow: UnitOfWork, changed: AgentPresenceChanged, event: Event) -> None:
        # Published by routing itself; the one from a wrap-up's timer ends the wrap-up.
        if changed.previous == "wrap_up" and changed.presence == "available":
            config.end_wrap_up(uow, routers, tenant_id=event.tenant, user_id=changed.agent_id)

    @handlers.on(AgentConnectionLost)
    def _gone(uow: UnitOfWork, lost: AgentConnectionLost, event: Event) -> None:
        config.connection_lost(uow, routers, tenant_id=event.tenant, user_id=lost.agent_id)

    @handlers.on(RoutingQueued)
    def _queued(uow: UnitOfWork, queued: RoutingQueued, event: Event) -> None:
        _teams_of_queue(uow, event.tenant, queued.conversation_id, queued.queue_id)

    @handlers.on(RoutingTransferred)
    def _transferred(uow: UnitOfWork, moved: RoutingTransferred, event: Event) -> None:
        if moved.to_team_id is not None:
            conversations.set_teams(
                uow,
                tenant_id=event.tenant,
                conversation_id=moved.conversation_id,
                team_ids=[moved.to_team_id],
            )
        elif moved.to_queue_id is not None:
            _teams_of_queue(uow, event.tenant, moved.conversation_id, moved.to_queue_id)

    @handlers.on(RoutingEscalated)
    def _escalated(uow: UnitOfWork, escalated: RoutingEscalated, event: Event) -> None:
        if escalated.to_queue_id is not None:
            _teams_of_queue(uow, event.tenant, escalated.conversation_id, escalated.to_queue_id)

    def route_together(units: Sequence[tuple[UnitOfWork, EventPayload, Event]]) -> None:
        """The handlers on each event in turn, but the new conversations of a channel no queue of their
        tenant takes passed over after one read of the tenant's queues for the whole batch."""
        taken: dict[str, frozenset[str]] = {}
        for uow, payload, event in units:
            if isinstance(payload, ConversationCreated):
                if not _routed(payload):
                    continue
                channels = taken.get(event.tenant)
                if channels is None:
                    channels = taken[event.tenant] = inbound.channels_taken(
                        uow.session, tenant_id=event.tenant
                    )
                if payload.channel not in channels:
                    continue
            handlers.dispatch(uow, payload, event)

    registry.add(
        SUBSCRIPTION,
        handlers,
        batch_handler=route_together,
        description="Routes new conversations and queued calls to agents; expires offers; ends work.",
    )


def _teams_of_queue(uow: UnitOfWork, tenant_id: str, conversation_id: str, queue_id: str) -> None:
    """Make the conversation the work of the queue's teams (none: every team's); a queue since removed
    leaves it as it is."""
    queue = uow.session.get(RoutingQueue, queue_id)
    if queue is None or queue.tenant_id != tenant_id:
        return
    conversations.set_teams(
        uow, tenant_id=tenant_id, conversation_id=conversation_id, team_ids=list(queue.team_ids)
    )
