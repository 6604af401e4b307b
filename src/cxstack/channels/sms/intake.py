"""Inbound SMS: the webhooks that wait together for the writer are stored in one call, and a webhook
alone is a batch of one, so there is one set of rules.

``receive_sms_batch`` takes in many inbound messages with a few statements for all of them: one read of
the receipts (a retried ``MessageSid`` is a duplicate), one read of the senders' customers, one insert of
the customers first seen, one read of their open conversations, the messages posted together
(``post_messages``) and one insert of the receipts. Opt-out keywords are messages too: a HELP answer is
posted right after the HELP it answers, and STOP and START change the phone's opt-out state in the order
they were sent (see ``service``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.channels.numbers.repository import serialise_on
from cxstack.channels.numbers.schemas import NumberRoute
from cxstack.channels.sms.repository import SmsRepository
from cxstack.channels.sms.schemas import InboundSms
from cxstack.channels.sms.service import (
    InboundOutcome,
    attachments_of,
    help_answer,
    keyword_of,
    publish_help_requested,
    set_opt_out,
)
from cxstack.kit.errors import DomainError
from cxstack.kit.ids import new_id
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import ConversationCreate, MessageCreate
from cxstack.records.customers import service as customers


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """One inbound message for ``receive_sms_batch``: the number's route and the message."""

    route: NumberRoute
    sms: InboundSms


@dataclass(slots=True)
class _Fresh:
    index: int
    context: Context
    request: InboundRequest
    data: MessageCreate
    #: (``stop``/``start``/``help``, the word sent) for an opt-out keyword, else None.
    keyword: tuple[str, str] | None


def receive_sms_batch(
    uow: UnitOfWork, requests: Sequence[tuple[Context, InboundRequest]]
) -> list[InboundOutcome | BaseException]:
    """Store many inbound messages in their senders' conversations and act on opt-out keywords; return
    each one's outcome, in order: its InboundOutcome, or the error it failed with (nothing written for it).

    A sender is found by phone identity (the customer created the first time) and joins the customer's
    conversation (``conversations_to_join``), else a new SMS conversation. A message id seen before
    changes nothing (``duplicate``). Publishes what the records publish (``customer.created``,
    ``conversation.created``, ``message.received``...) and ``sms.opted_out``, ``sms.opted_in`` or
    ``sms.help_requested`` for a keyword; a HELP answer is posted as an outbound message, which the SMS
    handler sends. Each message's records carry its caller's context. Raises (nothing written) when a
    message fails after the batch wrote for it; the database then runs each request alone.
    """
    outcomes: list[InboundOutcome | BaseException | None] = [None] * len(requests)
    by_tenant: dict[str, list[tuple[int, Context, InboundRequest]]] = {}
    for index, (context, request) in enumerate(requests):
        by_tenant.setdefault(request.route.tenant_id, []).append((index, context, request))
    for tenant_id, items in by_tenant.items():
        _receive(uow, tenant_id, items, outcomes)
    answered = [outcome for outcome in outcomes if outcome is not None]
    assert len(answered) == len(requests)
    return answered


def _receive(
    uow: UnitOfWork,
    tenant_id: str,
    items: list[tuple[int, Context, InboundRequest]],
    outcomes: list[InboundOutcome | BaseException | None],
) -> None:
    """Receive the messages of one tenant."""
    session = uow.session
    repo = SmsRepository(session, tenant_id)
    # On PostgreSQL one sender's messages are taken one transaction at a time: a retry waits for its first
    # delivery, and a burst of first messages makes one customer and one conversation. The locks are taken
    # in one order so that two batches never wait on each other in a circle.
    for phone in sorted({request.sms.from_number for _, _, request in items}):
        serialise_on(session, f"sender:{tenant_id}:{phone}")
    seen = repo.inbound_receipts([request.sms.message_sid for _, _, request in items])
    fresh: list[_Fresh] = []
    first_of_sid: dict[str, int] = {}
    repeats: list[tuple[int, int]] = []
    for index, context, request in items:
        sid = request.sms.message_sid
        before = seen.get(sid)
        if before is not None:
            customer_id, conversation_id, message_id, keyword = before
            outcomes[index] = InboundOutcome(
                customer_id=customer_id,
                conversation_id=conversation_id,
                message_id=message_id,
                duplicate=True,
                keyword=keyword,
            )
            continue
        if sid in first_of_sid:
            repeats.append((index, first_of_sid[sid]))
            continue
        first_of_sid[sid] = index
        try:
            data = MessageCreate(
                direction="inbound",
                body=request.sms.body,
                channel="sms",
                attachments=attachments_of(request.sms),
                client_id=sid,
            )
        except ValueError as error:
            outcomes[index] = error
            continue
        fresh.append(_Fresh(index, context, request, data, keyword_of(request.sms)))
    if fresh:
        _store(uow, tenant_id, repo, fresh, outcomes)
    for index, first in repeats:
        outcome = outcomes[first]
        outcomes[index] = replace(outcome, duplicate=True) if isinstance(outcome, InboundOutcome) else outcome


def _store(
    uow: UnitOfWork,
    tenant_id: str,
    repo: SmsRepository,
    fresh: list[_Fresh],
    outcomes: list[InboundOutcome | BaseException | None],
) -> None:
    """Find or create the senders and their conversations, post the messages (a HELP answer right after
    its HELP), record the receipts, then act on the keywords in the order they were sent."""
    session = uow.session
    first_context: dict[str, Context] = {}
    first_number: dict[str, str] = {}
    for item in fresh:
        first_context.setdefault(item.request.sms.from_number, item.context)
        first_number.setdefault(item.request.sms.from_number, item.request.route.number)
    phones = list(first_context)
    customer_of = customers.customers_by_phone(session, tenant_id=tenant_id, phones=phones)
    new_phones = [(first_context[phone], phone) for phone in phones if phone not in customer_of]
    if new_phones:
        customer_of.update(customers.create_customers_by_phone(uow, tenant_id=tenant_id, phones=new_phones))
    created_customers = {customer_of[phone] for _, phone in new_phones}
    known = {customer_of[phone] for phone in phones} - created_customers
    conversation_of = conversations.conversations_to_join(
        session, tenant_id=tenant_id, customer_ids=sorted(known), channel="sms"
    )
    for phone in phones:
        customer_id = customer_of[phone]
        if customer_id not in conversation_of:
            conversation_of[customer_id] = conversations.create_conversation(
                uow.acting_for(first_context[phone]),
                tenant_id=tenant_id,
                # The number texted, where routing's inbound rules find it.
                data=ConversationCreate(
                    customer_id=customer_id, channel="sms", attributes={"number": first_number[phone]}
                ),
            ).id
    posts: list[tuple[Context, conversations.MessagePost]] = []
    for item in fresh:
        route, sms = item.request.route, item.request.sms
        conversation_id = conversation_of[customer_of[sms.from_number]]
        posts.append((item.context, conversations.MessagePost(tenant_id, conversation_id, item.data)))
        if item.keyword is not None and item.keyword[0] == "help":
            answer = help_answer(route=route, sms=sms)
            posts.append((item.context, conversations.MessagePost(tenant_id, conversation_id, answer)))
    posted = iter(conversations.post_messages(uow, posts))
    receipts: list[dict[str, Any]] = []
    now = uow.clock.now()
    for item in fresh:
        result = next(posted)
        answered = next(posted) if item.keyword is not None and item.keyword[0] == "help" else None
        for outcome in (result, answered):
            if isinstance(outcome, DomainError):
                # The customer or conversation made for it is written already: raising rolls the call
                # back, and the database runs each request alone (this one then fails with this error).
                raise outcome
        assert isinstance(result, conversations.PostedMessage)
        sms = item.request.sms
        customer_id = customer_of[sms.from_number]
        conversation_id = conversation_of[customer_id]
        action = item.keyword[0] if item.keyword is not None else ""
        receipts.append(
            {
                "id": new_id("sir"),
                "number_id": item.request.route.number_id,
                "message_sid": sms.message_sid,
                "from_number": sms.from_number,
                "customer_id": customer_id,
                "conversation_id": conversation_id,
                "message_id": result.message.id,
                "keyword": action,
                "received_at": now,
            }
        )
        outcomes[item.index] = InboundOutcome(
            customer_id=customer_id,
            conversation_id=conversation_id,
            message_id=result.message.id,
            duplicate=False,
            keyword=action,
        )
    repo.add_inbound_receipts(receipts)
    for item in fresh:
        if item.keyword is None:
            continue
        action, word = item.keyword
        route, sms = item.request.route, item.request.sms
        customer_id = customer_of[sms.from_number]
        acting = uow.acting_for(item.context)
        if action == "help":
            publish_help_requested(
                acting,
                route=route,
                sms=sms,
                customer_id=customer_id,
                conversation_id=conversation_of[customer_id],
            )
        else:
            set_opt_out(
                acting,
                repo,
                route=route,
                sms=sms,
                customer_id=customer_id,
                opted_out=action == "stop",
                word=word,
            )
