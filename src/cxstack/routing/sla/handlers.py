"""The ``routing.sla`` subscription: starts, pauses, resumes and stops each conversation's SLA clocks as
its conversation and messages change, and records what the clocks' timers fire.

- ``conversation.created``: the conversation's policy is matched (on the conversation's priority and
  channel, its ``attributes.queue_id`` and its customer's ``attributes.tier``) and its resolution clock
  starts. A change of any of those (``conversation.updated``, ``conversation.channel_changed``) matches
  it again; under another policy, the live clocks keep the business time counted and take the new
  targets (no target for a metric: its clock is cancelled).
- ``message.received`` from the customer: the first starts the first-response clock; one after an agent's
  answer starts a next-response clock.
- ``message.sent`` by an agent (public): the running response clock is met.
- ``conversation.updated`` to status ``pending`` (waiting on the customer) pauses every live clock;
  leaving ``pending`` resumes them.
- ``conversation.closed``: the resolution clock is met; a response clock still waiting is cancelled.
- ``conversation.reopened``: the policy is matched again and a new resolution clock starts (the met one
  stays as it was: each resolution is measured on its own); the customer's next message starts a
  next-response clock.
- ``sla.warned`` and ``sla.breached`` (the clocks' own timers): noted on the clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from cxstack.backbone.envelope import Event
from cxstack.backbone.events import EventPayload
from cxstack.backbone.subscriptions import EventHandlers, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.kit.errors import NotFound
from cxstack.records.conversations.schemas import (
    ConversationChannelChanged,
    ConversationClosed,
    ConversationCreated,
    ConversationOut,
    ConversationReopened,
    ConversationUpdated,
    MessageReceived,
    MessageSent,
)
from cxstack.records.conversations.service import get_conversation
from cxstack.records.customers.service import get_customer
from cxstack.routing.sla import clocks
from cxstack.routing.sla.models import SlaConversation, SlaPolicy
from cxstack.routing.sla.repository import SlaRepository
from cxstack.routing.sla.schemas import SlaBreached, SlaWarned
from cxstack.routing.sla.service import match_policy

SUBSCRIPTION = "routing.sla"
WAITING_STATUS = "pending"
#: Changes of a conversation that may put it under another policy.
REMATCHED_BY = frozenset({"priority", "attributes", "customer_id"})

HANDLERS = EventHandlers()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _matching_policy(
    uow: UnitOfWork,
    tenant_id: str,
    conversation: ConversationOut,
    policies: Sequence[SlaPolicy] | None = None,
) -> SlaPolicy | None:
    """The policy a conversation falls under now (its priority, channel, queue and customer's tier), among
    ``policies`` when given (the tenant's, read once)."""
    try:
        customer = get_customer(uow.session, tenant_id=tenant_id, customer_id=conversation.customer_id)
        tier = _text(customer.attributes.get("tier"))
    except NotFound:
        tier = None
    return match_policy(
        uow.session,
        tenant_id=tenant_id,
        facts={
            "priority": conversation.priority,
            "channel": conversation.channel,
            "queue_id": _text(conversation.attributes.get("queue_id")),
            "customer_tier": tier,
        },
        policies=policies,
    )


@HANDLERS.on(ConversationCreated)
def _created(uow: UnitOfWork, created: ConversationCreated, event: Event) -> None:
    if SlaRepository(uow.session, event.tenant).conversation(created.conversation_id) is None:
        _watch(uow, created, event, policies=None)


def _watch(
    uow: UnitOfWork, created: ConversationCreated, event: Event, *, policies: Sequence[SlaPolicy] | None
) -> None:
    """Watch a new conversation: its row, and its resolution clock under the policy it matches (among
    ``policies`` when given; none: no policy, and nothing of the conversation needs reading)."""
    policy: SlaPolicy | None = None
    if policies is None or policies:
        try:
            conversation = get_conversation(
                uow.session, tenant_id=event.tenant, conversation_id=created.conversation_id
            )
        except NotFound:
            return
        policy = _matching_policy(uow, event.tenant, conversation, policies)
    waiting = created.status == WAITING_STATUS
    uow.session.add(
        SlaConversation(
            tenant_id=event.tenant,
            conversation_id=created.conversation_id,
            policy_id=policy.id if policy is not None else None,
            waiting=waiting,
            customer_wrote=False,
            answered=False,
            closed=False,
            created_at=event.time,
        )
    )
    if policy is not None:
        clocks.start_clock(
            uow,
            policy=policy,
            conversation_id=created.conversation_id,
            metric="resolution",
            at=event.time,
            paused=waiting,
        )


@HANDLERS.on(MessageReceived)
def _received(uow: UnitOfWork, message: MessageReceived, event: Event) -> None:
    if message.author_kind != "customer":
        return
    repo = SlaRepository(uow.session, event.tenant)
    watched = repo.conversation(message.conversation_id)
    if watched is None:
        return
    metric = None
    if not watched.customer_wrote:
        metric = "first_response"
    elif watched.answered:
        metric = "next_response"
    watched.customer_wrote, watched.answered = True, False
    policy = repo.policy(watched.policy_id) if watched.policy_id is not None else None
    if metric is not None and policy is not None:
        clocks.start_clock(
            uow,
            policy=policy,
            conversation_id=message.conversation_id,
            metric=metric,
            at=event.time,
            paused=watched.waiting,
        )


@HANDLERS.on(MessageSent)
def _sent(uow: UnitOfWork, message: MessageSent, event: Event) -> None:
    if message.author_kind != "agent" or message.visibility != "public":
        return
    watched = SlaRepository(uow.session, event.tenant).conversation(message.conversation_id)
    if watched is None:
        return
    watched.answered = True
    for clock in SlaRepository(uow.session, event.tenant).clocks_of(
        message.conversation_id, states=clocks.LIVE
    ):
        if clock.metric in clocks.RESPONSE_METRICS:
            clocks.meet_clock(uow, clock, at=event.time)


def _rematch(uow: UnitOfWork, event: Event, conversation_id: str) -> None:
    """Match the conversation's policy again; on a change, move its live clocks to the new one."""
    repo = SlaRepository(uow.session, event.tenant)
    watched = repo.conversation(conversation_id)
    if watched is None or watched.closed:
        return
    try:
        conversation = get_conversation(uow.session, tenant_id=event.tenant, conversation_id=conversation_id)
    except NotFound:
        return
    policy = _matching_policy(uow, event.tenant, conversation)
    policy_id = policy.id if policy is not None else None
    if policy_id == watched.policy_id:
        return
    watched.policy_id = policy_id
    for clock in repo.clocks_of(conversation_id, states=clocks.LIVE):
        clocks.switch_policy(uow, clock, policy, at=event.time)


@HANDLERS.on(ConversationChannelChanged)
def _channel_changed(uow: UnitOfWork, moved: ConversationChannelChanged, event: Event) -> None:
    _rematch(uow, event, moved.conversation_id)


@HANDLERS.on(ConversationUpdated)
def _updated(uow: UnitOfWork, updated: ConversationUpdated, event: Event) -> None:
    if REMATCHED_BY & updated.changes.keys():
        _rematch(uow, event, updated.conversation_id)
    status = updated.changes.get("status")
    if status is None:
        return
    repo = SlaRepository(uow.session, event.tenant)
    watched = repo.conversation(updated.conversation_id)
    if watched is None:
        return
    waiting = status == WAITING_STATUS
    if waiting == watched.waiting:
        return
    watched.waiting = waiting
    for clock in repo.clocks_of(updated.conversation_id, states=clocks.LIVE):
        if waiting:
            clocks.pause_clock(uow, clock, at=event.time)
        else:
            clocks.resume_clock(uow, clock, at=event.time)


@HANDLERS.on(ConversationClosed)
def _closed(uow: UnitOfWork, closed: ConversationClosed, event: Event) -> None:
    repo = SlaRepository(uow.session, event.tenant)
    watched = repo.conversation(closed.conversation_id)
    if watched is None:
        return
    watched.closed = True
    for clock in repo.clocks_of(closed.conversation_id, states=clocks.LIVE):
        if clock.metric == "resolution":
            clocks.meet_clock(uow, clock, at=event.time)
        else:
            clocks.cancel_clock(uow, clock, at=event.time)


@HANDLERS.on(ConversationReopened)
def _reopened(uow: UnitOfWork, reopened: ConversationReopened, event: Event) -> None:
    repo = SlaRepository(uow.session, event.tenant)
    watched = repo.conversation(reopened.conversation_id)
    if watched is None:
        return
    watched.closed = False
    watched.waiting = reopened.status == WAITING_STATUS
    # The customer's next message is answered under the next-response target.
    watched.answered = watched.customer_wrote
    # What changed while it was closed (its priority, its queue) chooses the policy of the new clock.
    _rematch(uow, event, reopened.conversation_id)
    policy = repo.policy(watched.policy_id) if watched.policy_id is not None else None
    if policy is not None:
        clocks.start_clock(
            uow,
            policy=policy,
            conversation_id=reopened.conversation_id,
            metric="resolution",
            at=event.time,
            paused=watched.waiting,
        )


@HANDLERS.on(SlaBreached)
def _breached(uow: UnitOfWork, breached: SlaBreached, event: Event) -> None:
    clocks.record_breach(uow, tenant_id=event.tenant, clock_id=breached.clock_id, at=event.time)


@HANDLERS.on(SlaWarned)
def _warned(uow: UnitOfWork, warning: SlaWarned, event: Event) -> None:
    clocks.record_warning(uow, tenant_id=event.tenant, clock_id=warning.clock_id, at=event.time)


def track_together(units: Sequence[tuple[UnitOfWork, EventPayload, Event]]) -> None:
    """The handlers on each event in turn, but a run of new conversations watched together: which of them
    are watched already in one query, and the tenant's policies read once for the run (with none, the
    conversations themselves are not read at all)."""
    run: list[tuple[UnitOfWork, ConversationCreated, Event]] = []

    def watch_run() -> None:
        by_tenant: dict[str, list[tuple[UnitOfWork, ConversationCreated, Event]]] = {}
        for unit in run:
            by_tenant.setdefault(unit[2].tenant, []).append(unit)
        for tenant_id, units_of_tenant in by_tenant.items():
            repo = SlaRepository(units_of_tenant[0][0].session, tenant_id)
            watched = repo.conversations_among([created.conversation_id for _, created, _ in units_of_tenant])
            policies = repo.policies()
            for uow, created, event in units_of_tenant:
                if created.conversation_id not in watched:
                    watched.add(created.conversation_id)
                    _watch(uow, created, event, policies=policies)
        run.clear()

    for uow, payload, event in units:
        if isinstance(payload, ConversationCreated):
            run.append((uow, payload, event))
            continue
        watch_run()
        HANDLERS.dispatch(uow, payload, event)
    watch_run()


def register(registry: SubscriptionRegistry) -> None:
    registry.add(
        SUBSCRIPTION,
        HANDLERS,
        batch_handler=track_together,
        description="SLA clocks of conversations: started, paused, resumed and stopped on durable timers.",
    )
