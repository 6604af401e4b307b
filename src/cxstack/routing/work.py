"""The life of a work item: queued, offered, accepted or declined or expired, assigned, transferred or
escalated, completed."""

from __future__ import annotations

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxstack.backbone.timers import cancel_timer
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page, paginate
from cxstack.records.conversations.schemas import ConversationUpdate
from cxstack.records.conversations.service import get_conversation, update_conversation
from cxstack.routing.config import agent_row, queue_row
from cxstack.routing.held import (
    OPEN_STATES,
    SOURCE,
    Acting,
    Routers,
    Routing,
    all_teams,
    may_act_on_item,
    routing,
)
from cxstack.routing.inbound import choose_queue
from cxstack.routing.model import Offer, Presence
from cxstack.routing.models import RoutingAgent, RoutingItem
from cxstack.routing.offers import (
    event_base,
    item_row,
    make_offers,
    offer_item,
    publish_item_event,
    schedule_widenings,
    start_wrap_up,
    waiting_again,
)
from cxstack.routing.schemas import (
    AgentPresenceChanged,
    ItemOut,
    RoutingAccepted,
    RoutingAssigned,
    RoutingCompleted,
    RoutingDeclined,
    RoutingEscalated,
    RoutingExpired,
    RoutingQueued,
    RoutingTransferred,
)

log = structlog.get_logger("cxstack.routing")


#: The strategy an offer names when a call escalated from a chat goes first to the agent who had the chat.
ESCALATED_FROM_CHAT = "escalated_from_chat"


def enqueue(
    uow: UnitOfWork,
    routers: Routers,
    *,
    tenant_id: str,
    conversation_id: str,
    customer_id: str,
    channel: str,
    kind: str = "conversation",
    call_id: str | None = None,
    queue_name: str | None = None,
    escalation_id: str | None = None,
) -> ItemOut | None:
    """Route new work: put it in the queue that takes it (``routing.queued``) and offer it if an agent can
    take it; return the item, or None when no queue takes the channel (nothing is routed).

    A call that continues a conversation whose work is open on another channel takes that work over (the
    chat's item is completed, without wrap-up: ``routing.completed``). A call answering an escalation
    (``escalation_id``) is offered first to the agent who had the conversation, when they are available
    with room for a call (``routing.offered`` with strategy ``escalated_from_chat``); declined or expired,
    it goes to another agent by the queue's strategy."""
    session = uow.session
    existing = session.scalar(
        select(RoutingItem).where(
            RoutingItem.tenant_id == tenant_id,
            RoutingItem.conversation_id == conversation_id,
            RoutingItem.state.in_(OPEN_STATES),
        )
    )
    if existing is not None and (kind != "call" or existing.kind == "call"):
        return ItemOut.model_validate(existing)
    chosen = choose_queue(
        session,
        tenant_id=tenant_id,
        channel=channel,
        queue_name=queue_name,
        conversation_id=conversation_id,
        customer_id=customer_id,
    )
    if chosen is None:
        log.debug("no queue takes the work", tenant=tenant_id, channel=channel, conversation=conversation_id)
        return ItemOut.model_validate(existing) if existing is not None else None
    queue, reason = chosen
    preferred: str | None = None
    if escalation_id is not None:
        preferred = (
            existing.agent_id
            if existing is not None and existing.state == "assigned"
            else get_conversation(session, tenant_id=tenant_id, conversation_id=conversation_id).assignee
        )
        had = f"agent {preferred}'s" if preferred is not None else "the"
        reason = f"{ESCALATED_FROM_CHAT}: the call continues {had} conversation; {reason}"
    with routing(uow, routers, tenant_id) as held:
        if existing is not None:
            _hand_over(held, existing)
        item = RoutingItem(
            id=new_id("wrk"),
            tenant_id=tenant_id,
            kind=kind,
            conversation_id=conversation_id,
            call_id=call_id,
            customer_id=customer_id,
            channel=channel,
            queue_id=queue.id,
            team_id=None,
            priority=0,
            language=None,
            state="waiting",
            agent_id=None,
            offers=0,
            declines=0,
            offer_expires_at=None,
            enqueued_at=held.at,
            assigned_at=None,
            ended_at=None,
        )
        session.add(item)
        enqueued = held.engine.enqueue(
            item_id=item.id,
            queue_id=queue.id,
            channel=channel,
            now=held.now,
            customer_id=customer_id,
        )
        publish_item_event(
            held,
            item,
            RoutingQueued(**event_base(item), customer_id=customer_id, kind=kind, priority=0, reason=reason),
        )
        schedule_widenings(held, item, enqueued.widens_at)
        note_queue(uow, tenant_id, conversation_id, queue.id)
        if preferred is not None:
            first = held.engine.offer_to(
                item.id, agent_id=preferred, now=held.now, strategy=ESCALATED_FROM_CHAT
            )
            if first is not None:
                offer_item(held, item, first, timeout_s=queue.offer_timeout_seconds)
        make_offers(held)
        return ItemOut.model_validate(item)


def _hand_over(held: Routing, item: RoutingItem) -> None:
    """The conversation's open work on another channel ends as a call takes it over: completed without
    wrap-up when assigned (the agent's room frees for the call), withdrawn otherwise."""
    agent_id = item.agent_id
    if item.state == "assigned":
        held.engine.complete(item.id, now=held.now, wrap_up=False)
        item.state = "completed"
    else:
        held.engine.cancel(item.id, now=held.now)
        cancel_timer(held.uow, tenant_id=held.tenant_id, key=f"routing.offer.{item.id}")
        item.state = "cancelled"
    item.ended_at = held.at
    item.offer_expires_at = None
    publish_item_event(held, item, RoutingCompleted(**event_base(item), agent_id=agent_id, state=item.state))


def note_queue(uow: UnitOfWork, tenant_id: str, conversation_id: str, queue_id: str) -> None:
    """Record the queue on the conversation (``attributes.queue_id``), where SLA policies by queue and
    reports find it."""
    conversation = get_conversation(uow.session, tenant_id=tenant_id, conversation_id=conversation_id)
    if conversation.attributes.get("queue_id") != queue_id:
        update_conversation(
            uow,
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            data=ConversationUpdate(attributes={"queue_id": queue_id}),
        )


def accept_offer(
    uow: UnitOfWork, routers: Routers, *, tenant_id: str, item_id: str, agent_id: str
) -> ItemOut:
    """The agent takes the work offered to them: ``routing.accepted`` and ``routing.assigned``, and the
    conversation's assignee is the agent. Raises Conflict when it is not (or no longer) offered to them."""
    session = uow.session
    item = item_row(session, tenant_id, item_id)
    with routing(uow, routers, tenant_id) as held:
        if item.state != "offered" or item.agent_id != agent_id:
            raise Conflict(
                f"work item {item_id} is not offered to {agent_id}"
                + (f" (it is {item.state})" if item.state != "offered" else ""),
                field="item_id",
                state=item.state,
            )
        assigned = held.engine.accept(item_id, agent_id=agent_id, now=held.now)
        cancel_timer(uow, tenant_id=tenant_id, key=f"routing.offer.{item.id}")
        item.state = "assigned"
        item.assigned_at = held.at
        item.offer_expires_at = None
        publish_item_event(
            held,
            item,
            RoutingAccepted(
                **event_base(item), agent_id=agent_id, wait_seconds=round(assigned.wait_seconds, 3)
            ),
        )
        publish_item_event(
            held,
            item,
            RoutingAssigned(**event_base(item), agent_id=agent_id, kind=item.kind, call_id=item.call_id),
        )
        update_conversation(
            uow,
            tenant_id=tenant_id,
            conversation_id=item.conversation_id,
            data=ConversationUpdate(assignee=agent_id),
        )
        return ItemOut.model_validate(item)


def decline_offer(
    uow: UnitOfWork,
    routers: Routers,
    *,
    tenant_id: str,
    item_id: str,
    agent_id: str,
    note: str | None = None,
) -> ItemOut:
    """The agent turns the work down: it waits again and goes to another agent first
    (``routing.declined``). Raises Conflict when it is not offered to them."""
    session = uow.session
    item = item_row(session, tenant_id, item_id)
    with routing(uow, routers, tenant_id) as held:
        if item.state != "offered" or item.agent_id != agent_id:
            raise Conflict(f"work item {item_id} is not offered to {agent_id}", field="item_id")
        requeued = held.engine.decline(item_id, agent_id=agent_id, now=held.now)
        cancel_timer(uow, tenant_id=tenant_id, key=f"routing.offer.{item.id}")
        waiting_again(item, requeued)
        publish_item_event(
            held,
            item,
            RoutingDeclined(**event_base(item), agent_id=agent_id, declines=item.declines, note=note),
        )
        make_offers(held)
        return ItemOut.model_validate(item)


def expire_offer(uow: UnitOfWork, routers: Routers, *, tenant_id: str, item_id: str, offer: int) -> None:
    """An offer's timer fired: unless the offer was answered (or another made since), it expires
    (``routing.expired``) and the work goes to another agent."""
    item = uow.session.get(RoutingItem, item_id)
    if item is None or item.state != "offered" or item.offers != offer or item.agent_id is None:
        return
    agent_id = item.agent_id
    with routing(uow, routers, tenant_id) as held:
        requeued = held.engine.expire(item_id, now=held.now)
        waiting_again(item, requeued)
        publish_item_event(
            held, item, RoutingExpired(**event_base(item), agent_id=agent_id, declines=item.declines)
        )
        # The engine set an available agent who did not answer away: so does the record.
        agent = held.session.get(RoutingAgent, agent_id)
        if agent is not None and agent.presence == Presence.AVAILABLE.value:
            agent.presence = Presence.AWAY.value
            agent.presence_since = held.at
            uow.publish(
                AgentPresenceChanged(agent_id=agent_id, presence="away", previous="available"),
                tenant_id=tenant_id,
                subject=agent_id,
                source=SOURCE,
            )
        make_offers(held)


def route_again(uow: UnitOfWork, routers: Routers, *, tenant_id: str, item_id: str) -> None:
    """An item's wait reached a fallback step (its timer): route with the wider requirements."""
    item = uow.session.get(RoutingItem, item_id)
    if item is None or item.state != "waiting":
        return
    with routing(uow, routers, tenant_id) as held:
        make_offers(held)


def end_work(uow: UnitOfWork, routers: Routers, *, tenant_id: str, conversation_id: str) -> None:
    """The conversation closed: its work is completed (assigned) or withdrawn (waiting or offered), with
    ``routing.completed``; the agent's capacity frees, and wrap-up starts if the queue has one."""
    session = uow.session
    items = list(
        session.scalars(
            select(RoutingItem).where(
                RoutingItem.tenant_id == tenant_id,
                RoutingItem.conversation_id == conversation_id,
                RoutingItem.state.in_(OPEN_STATES),
            )
        )
    )
    if not items:
        return
    with routing(uow, routers, tenant_id) as held:
        for item in items:
            agent_id = item.agent_id
            if item.state == "assigned":
                done = held.engine.complete(item.id, now=held.now)
                item.state = "completed"
                if done.wrap_up_until is not None:
                    start_wrap_up(held, done.agent_id, done.wrap_up_until)
            else:
                held.engine.cancel(item.id, now=held.now)
                cancel_timer(uow, tenant_id=tenant_id, key=f"routing.offer.{item.id}")
                item.state = "cancelled"
            item.ended_at = held.at
            item.offer_expires_at = None
            publish_item_event(
                held, item, RoutingCompleted(**event_base(item), agent_id=agent_id, state=item.state)
            )
        make_offers(held)


def transfer(
    uow: UnitOfWork,
    routers: Routers,
    *,
    tenant_id: str,
    item_id: str,
    to_queue_id: str | None,
    to_agent_id: str | None,
    note: str | None,
    to_team_id: str | None = None,
    acting: Acting | None = None,
) -> ItemOut:
    """Move open work to another queue (it waits there), to a team, or offer it to a named agent, keeping
    its conversation and everything in it (``routing.transferred``).

    Work transferred to a team (in ``to_queue_id``, or in the queue it is in) is offered only to agents of
    that team, on every fallback step of the queue (a step's ``any_team`` never widens it), and waits while
    none of them can take it; the team is kept on the work (``team_id``) until a later transfer to a queue
    or an agent without a team, or an escalation, ends it. Raises ValidationFailed unless a queue, a team
    (alone or with a queue) or an agent alone is named, NotFound for an unknown one, Conflict for finished
    work or an agent who cannot take it now."""
    if to_agent_id is not None and to_team_id is not None:
        raise ValidationFailed(
            "work offered to a named agent is theirs: give to_team_id or to_agent_id, not both",
            field="to_team_id",
        )
    if to_queue_id is not None and to_agent_id is not None:
        raise ValidationFailed("give to_queue_id or to_agent_id, not both", field="to_queue_id")
    if to_queue_id is None and to_team_id is None and to_agent_id is None:
        raise ValidationFailed("give to_queue_id, to_team_id or to_agent_id", field="to_queue_id")
    session = uow.session
    item = item_row(session, tenant_id, item_id)
    may_act_on_item(session, tenant_id, acting, item)
    if item.state not in OPEN_STATES:
        raise Conflict(f"work item {item_id} is {item.state}", field="item_id")
    if to_queue_id is not None:
        queue = queue_row(session, tenant_id, to_queue_id, field="to_queue_id")
        timeout_s = queue.offer_timeout_seconds
    else:
        if to_agent_id is not None:
            agent_row(session, tenant_id, to_agent_id)
        timeout_s = queue_row(session, tenant_id, item.queue_id).offer_timeout_seconds
    if to_team_id is not None and to_team_id not in {team.id for team in all_teams(session, tenant_id)}:
        raise NotFound(f"no team {to_team_id}", field="to_team_id")
    with routing(uow, routers, tenant_id) as held:
        from_agent = item.agent_id
        moved = held.engine.transfer(
            item_id, now=held.now, to_queue=to_queue_id, to_agent=to_agent_id, to_team=to_team_id
        )
        cancel_timer(uow, tenant_id=tenant_id, key=f"routing.offer.{item.id}")
        publish_item_event(
            held,
            item,
            RoutingTransferred(
                **event_base(item),
                from_agent_id=from_agent,
                to_queue_id=to_queue_id,
                to_agent_id=to_agent_id,
                to_team_id=to_team_id,
                note=note,
            ),
        )
        item.team_id = to_team_id
        item.assigned_at = None
        if isinstance(moved, Offer):
            offer_item(held, item, moved, timeout_s=timeout_s)
        else:
            waiting_again(item, moved)
            item.enqueued_at = held.at
            schedule_widenings(held, item, moved.widens_at)
        make_offers(held)
        return ItemOut.model_validate(item)


def escalate(
    uow: UnitOfWork,
    routers: Routers,
    *,
    tenant_id: str,
    item_id: str,
    reason: str,
    to_queue_id: str | None,
    to_agent_id: str | None,
    acting: Acting | None = None,
) -> ItemOut:
    """Escalate open work with a reason (``routing.escalated``): to a named queue or agent (a
    supervisor), or to its queue's escalation queue; a team it was transferred to no longer applies (the
    escalation queue's teams do). Raises ValidationFailed when both are named or neither is and the queue
    has no escalation queue; as ``transfer`` otherwise."""
    session = uow.session
    item = item_row(session, tenant_id, item_id)
    if to_queue_id is not None and to_agent_id is not None:
        raise ValidationFailed("give to_queue_id or to_agent_id, not both", field="to_queue_id")
    if to_queue_id is None and to_agent_id is None:
        to_queue_id = queue_row(session, tenant_id, item.queue_id).escalation_queue_id
        if to_queue_id is None:
            raise ValidationFailed(
                "the work's queue has no escalation queue: name to_queue_id or to_agent_id",
                field="to_queue_id",
            )
    from_queue, from_agent = item.queue_id, item.agent_id
    moved = transfer(
        uow,
        routers,
        tenant_id=tenant_id,
        item_id=item_id,
        to_queue_id=to_queue_id,
        to_agent_id=to_agent_id,
        note=reason,
        acting=acting,
    )
    uow.publish(
        RoutingEscalated(
            item_id=item.id,
            conversation_id=item.conversation_id,
            queue_id=item.queue_id,
            channel=item.channel,
            from_queue_id=from_queue,
            from_agent_id=from_agent,
            to_queue_id=to_queue_id,
            to_agent_id=to_agent_id,
            reason=reason,
        ),
        tenant_id=tenant_id,
        subject=item.conversation_id,
        source=SOURCE,
    )
    if to_queue_id is not None:
        note_queue(uow, tenant_id, item.conversation_id, to_queue_id)
    return moved


# -- reading -------------------------------------------------------------------------------------------


def list_items(
    session: Session,
    *,
    tenant_id: str,
    state: str | None = None,
    agent_id: str | None = None,
    queue_id: str | None = None,
    conversation_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[ItemOut]:
    """Return a page of work items, oldest first (open ones unless ``state`` says otherwise)."""
    query = select(RoutingItem).where(RoutingItem.tenant_id == tenant_id)
    if state is not None:
        query = query.where(RoutingItem.state == state)
    else:
        query = query.where(RoutingItem.state.in_(OPEN_STATES))
    if agent_id is not None:
        query = query.where(RoutingItem.agent_id == agent_id)
    if queue_id is not None:
        query = query.where(RoutingItem.queue_id == queue_id)
    if conversation_id is not None:
        query = query.where(RoutingItem.conversation_id == conversation_id)
    page = paginate(session, query, id_column=RoutingItem.id, cursor=cursor, limit=limit)
    return Page(items=[ItemOut.model_validate(row) for row in page.items], next_cursor=page.next_cursor)


def get_item(session: Session, *, tenant_id: str, item_id: str) -> ItemOut:
    return ItemOut.model_validate(item_row(session, tenant_id, item_id))


def acting_agent(caller_user_id: str | None, role: str | None, agent_id: str | None) -> str:
    """Return whom an answer to an offer is for: the signed-in agent themselves, or the ``agent_id`` an
    integration (API key) names. Raises ValidationFailed when an API key names none, Forbidden when a
    person answers for someone else."""
    if caller_user_id is None:
        if agent_id is None:
            raise ValidationFailed(
                "an API key answers an offer for an agent: give agent_id", field="agent_id"
            )
        return agent_id
    if agent_id is not None and agent_id != caller_user_id:
        raise Forbidden("an agent answers only the offers made to them", field="agent_id")
    del role
    return caller_user_id


def count_open(session: Session, *, tenant_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(RoutingItem)
            .where(RoutingItem.tenant_id == tenant_id, RoutingItem.state.in_(OPEN_STATES))
        )
        or 0
    )
