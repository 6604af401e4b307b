"""Inbound rules: which queue new work goes to.

A queue takes new work on its ``channels`` whose conversation meets all of its ``conditions``; the first
such queue by ``position`` wins (a queue without conditions takes all of its channels' work, so a catch-all
goes last). The conditions a queue may set:

- ``inbox``: the address the email was sent to (any case), which the email channel records on a new
  conversation as ``attributes.inbox``;
- ``number``: the tenant's number texted or called (E.164, written in any form a phone number may be),
  recorded by the SMS and voice channels on a new conversation as ``attributes.number``;
- ``language``: the conversation's ``attributes.language``, else its customer's ``attributes.language``
  (``es`` takes ``es`` and ``es-MX``); nothing detects a language from the text yet;
- ``conversation.<attribute>`` and ``customer.<attribute>``: that attribute's value, exactly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.kit.errors import ValidationFailed
from cxstack.records.conversations.service import get_conversation
from cxstack.records.customers.service import get_customer, normalise_email, normalise_phone
from cxstack.routing.models import RoutingQueue

#: The conditions on what the channel recorded, beside ``conversation.<key>`` and ``customer.<key>``.
RULES = ("inbox", "number", "language")
ATTRIBUTE = re.compile(r"^(conversation|customer)\.[A-Za-z0-9_.-]{1,100}$")
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def normalise_conditions(conditions: Mapping[str, str]) -> dict[str, str]:
    """Return a queue's conditions in the form they are matched in: an inbox in lower case, a number in
    E.164, a language in lower case. Raises ValidationFailed naming ``conditions.<key>`` for an unknown
    key, an inbox that is not an email address, a number that is not a phone number, or a language that is
    not a language tag."""
    normalised: dict[str, str] = {}
    for key, value in conditions.items():
        field = f"conditions.{key}"
        if key == "inbox":
            normalised[key] = normalise_email(value, field=field)
        elif key == "number":
            normalised[key] = normalise_phone(value, field=field)
        elif key == "language":
            if not LANGUAGE.match(value):
                raise ValidationFailed(f"{value!r} is not a language tag (such as es or pt-BR)", field=field)
            normalised[key] = value.lower()
        elif ATTRIBUTE.match(key):
            normalised[key] = value
        else:
            raise ValidationFailed(
                f"unknown condition {key!r}: use inbox, number, language, conversation.<attribute> or "
                "customer.<attribute>",
                field=field,
            )
    return normalised


def channels_taken(session: Session, *, tenant_id: str) -> frozenset[str]:
    """The channels some queue of the tenant takes new work of (work of any other is not routed)."""
    taken: set[str] = set()
    for channels in session.scalars(select(RoutingQueue.channels).where(RoutingQueue.tenant_id == tenant_id)):
        taken.update(channels)
    return frozenset(taken)


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
        if all(_meets(facts.get(key), key, value) for key, value in queue.conditions.items()):
            met = ", ".join(f"{key} = {value}" for key, value in sorted(queue.conditions.items()))
            return queue, f"queue {queue.name!r} takes new {channel} work where {met}"
    return None


def _meets(fact: str | None, key: str, wanted: str) -> bool:
    if fact is None:
        return False
    if key == "language":
        fact = fact.lower()
        return fact == wanted or fact.startswith(f"{wanted}-")
    return fact == wanted


def _facts(
    session: Session, tenant_id: str, conversation_id: str | None, customer_id: str | None
) -> dict[str, str]:
    """What queue conditions look at: ``conversation.<key>``, ``customer.<key>``, and the ``inbox``,
    ``number`` and ``language`` (the conversation's, else the customer's) in the form they are matched."""
    facts: dict[str, str] = {}
    conversation_attributes: Mapping[str, object] = {}
    if conversation_id is not None:
        conversation = get_conversation(session, tenant_id=tenant_id, conversation_id=conversation_id)
        conversation_attributes = conversation.attributes
        facts.update({f"conversation.{k}": str(v) for k, v in conversation_attributes.items()})
        customer_id = customer_id or conversation.customer_id
    customer_attributes: Mapping[str, object] = {}
    if customer_id is not None:
        customer = get_customer(session, tenant_id=tenant_id, customer_id=customer_id)
        customer_attributes = customer.attributes
        facts.update({f"customer.{k}": str(v) for k, v in customer_attributes.items()})
    inbox = conversation_attributes.get("inbox")
    if isinstance(inbox, str) and inbox:
        facts["inbox"] = inbox.strip().lower()
    number = conversation_attributes.get("number")
    if isinstance(number, str) and number:
        try:
            facts["number"] = normalise_phone(number)
        except ValidationFailed:
            facts["number"] = number
    language = conversation_attributes.get("language") or customer_attributes.get("language")
    if isinstance(language, str) and language:
        facts["language"] = language.strip()
    return facts
