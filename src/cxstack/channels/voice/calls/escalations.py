"""Continuing a conversation by phone: the customer's next call from their phone joins it.

An escalation names the conversation and the phone the customer will call from (linked to the customer
as a phone identity, so the call finds them); the conversation's attributes, which hold what was collected
so far, are left as they are, and the call's agent sees them with the whole transcript.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.voice.calls.phones import claim_phone, phones_of
from cxstack.channels.voice.calls.service import SOURCE
from cxstack.channels.voice.models import VoiceEscalation
from cxstack.channels.voice.repository import VoiceRepository
from cxstack.channels.voice.schemas import CallRequested, EscalationIn, EscalationOut
from cxstack.kit.errors import ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.records.conversations import service as conversations
from cxstack.records.customers import service as customers


def request_call(uow: UnitOfWork, *, tenant_id: str, data: EscalationIn) -> EscalationOut:
    """Ask for the customer's next call to continue the conversation ``data.conversation_id``.

    The phone (default: the customer's) is linked to the customer when it is not yet. Raises NotFound,
    ValidationFailed (no phone, a closed conversation), Conflict (the phone belongs to another customer).
    Publishes ``call.requested`` (and ``identity.linked`` for a new phone).
    """
    conversation = conversations.get_conversation(
        uow.session, tenant_id=tenant_id, conversation_id=data.conversation_id
    )
    if conversation.status == "closed":
        raise ValidationFailed(
            f"conversation {conversation.id} is closed; reopen it to continue by phone",
            field="conversation_id",
        )
    customer = customers.get_customer(uow.session, tenant_id=tenant_id, customer_id=conversation.customer_id)
    phones = phones_of(customer)
    if data.phone:
        phone = customers.normalise_phone(data.phone, region=data.region, field="phone")
    elif phones:
        phone = phones[0]
    else:
        raise ValidationFailed("the customer has no phone: give the one they will call from", field="phone")
    claim_phone(uow, tenant_id=tenant_id, customer=customer, phone=phone)
    now = uow.clock.now()
    row = VoiceEscalation(
        id=new_id("esc"),
        tenant_id=tenant_id,
        conversation_id=conversation.id,
        customer_id=customer.id,
        phone=phone,
        reason=data.reason,
        status="waiting",
        call_id=None,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(row)
    uow.publish(
        CallRequested(
            escalation_id=row.id,
            conversation_id=conversation.id,
            customer_id=customer.id,
            phone=phone,
            reason=data.reason,
        ),
        tenant_id=tenant_id,
        subject=conversation.id,
        source=SOURCE,
    )
    uow.session.flush()
    return EscalationOut.model_validate(row)


def get_escalation(session: Session, *, tenant_id: str, escalation_id: str) -> EscalationOut:
    return EscalationOut.model_validate(VoiceRepository(session, tenant_id).get_escalation(escalation_id))
