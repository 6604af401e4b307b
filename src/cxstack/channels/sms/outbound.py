"""Outbound SMS: sending a conversation's outbound message through its number's provider, and the
delivery statuses the provider reports back.

Every send goes through ``send_message``, which refuses a phone number that opted out (nothing reaches
the provider) and records one row per message, so a redelivered ``message.sent`` never sends twice. The
provider is called by the ``sms.send`` effect after that transaction commits, never inside one (a slow
provider holds up no write), and the opt-out is checked again just before each attempt.
Statuses only move forward (``STATUS_RANK``): a late ``sent`` after ``delivered`` changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from cxstack.backbone.effects import EffectFailed, EffectJob, Reader, enqueue_effect
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.numbers.models import PhoneNumber
from cxstack.channels.numbers.repository import NumberRepository, serialise_on
from cxstack.channels.numbers.schemas import NumberRoute
from cxstack.channels.providers import ProviderAccount
from cxstack.channels.sms.models import SmsOutbound, SmsStatusReceipt
from cxstack.channels.sms.plugins.base import OutboundSms, SendRejected, SmsProvider
from cxstack.channels.sms.repository import SmsRepository
from cxstack.channels.sms.schemas import (
    STATUS_RANK,
    DeliveryUpdated,
    OutboundOut,
    SmsSendFailed,
    SmsSubmitted,
    StatusReport,
)
from cxstack.channels.sms.service import SOURCE, is_opted_out
from cxstack.kit.errors import NotFound
from cxstack.kit.ids import new_id
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import MessageDelivery, MessageSent
from cxstack.records.customers import service as customers

#: The effect that hands one outbound message to its provider.
SEND_EFFECT = "sms.send"


def _lock_provider_sid(uow: UnitOfWork, provider_sid: str) -> None:
    """Order the transactions that touch one provider message id: a status callback can arrive before the
    transaction that recorded its send has committed; whichever commits second sees the other's row."""
    serialise_on(uow.session, f"sid:{provider_sid}")


def _phone_of(session: Session, *, tenant_id: str, customer_id: str) -> str | None:
    try:
        customer = customers.get_customer(session, tenant_id=tenant_id, customer_id=customer_id)
    except NotFound:
        return None
    if customer.phone:
        return customer.phone
    phones = [identity.value for identity in customer.identities if identity.kind == "phone"]
    return phones[0] if phones else None


def _number_for(repo: SmsRepository, phone: str) -> PhoneNumber | None:
    """The number the customer last wrote to, else the tenant's first number."""
    numbers = NumberRepository(repo.session, repo.tenant_id)
    last = repo.last_number_id_texted_by(phone)
    found = numbers.find_number(last) if last is not None else None
    return found or numbers.first_number()


def _record(
    uow: UnitOfWork,
    message: MessageSent,
    *,
    tenant_id: str,
    number: PhoneNumber | None,
    to_number: str | None,
    status: str,
    error_code: str | None = None,
    error_message: str | None = None,
) -> SmsOutbound:
    now = uow.clock.now()
    row = SmsOutbound(
        id=new_id("smo"),
        tenant_id=tenant_id,
        message_id=message.message_id,
        conversation_id=message.conversation_id,
        customer_id=message.customer_id,
        number_id=number.id if number else None,
        from_number=number.number if number else None,
        to_number=to_number,
        provider=number.provider if number else None,
        provider_sid=None,
        status=status,
        error_code=error_code,
        error_message=error_message,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(row)
    return row


def _publish_failed(uow: UnitOfWork, row: SmsOutbound, *, reason: str, error_code: str | None) -> None:
    """Publish ``sms.send_failed`` (``error_code``: the provider's, else the reason) and record on the
    conversation's message that it did not reach the customer (``message.delivery_failed``)."""
    conversations.record_delivery_failure(
        uow,
        tenant_id=row.tenant_id,
        message_id=row.message_id,
        delivery=MessageDelivery(
            status="refused" if row.status == "refused" else "failed",
            error_code=error_code or reason,
            detail=row.error_message or reason,
        ),
    )
    uow.publish(
        SmsSendFailed(
            message_id=row.message_id,
            conversation_id=row.conversation_id,
            customer_id=row.customer_id,
            from_number=row.from_number,
            to_number=row.to_number,
            reason=reason,
            error_code=error_code or reason,
            error_message=row.error_message or "",
        ),
        tenant_id=row.tenant_id,
        subject=row.conversation_id,
        source=SOURCE,
    )


def _refuse(
    uow: UnitOfWork,
    message: MessageSent,
    *,
    tenant_id: str,
    number: PhoneNumber | None,
    to_number: str | None,
    reason: str,
    detail: str,
) -> SmsOutbound:
    row = _record(
        uow,
        message,
        tenant_id=tenant_id,
        number=number,
        to_number=to_number,
        status="refused",
        error_code=reason,
        error_message=detail,
    )
    _publish_failed(uow, row, reason=reason, error_code=reason)
    return row


def _opted_out_detail(phone: str) -> str:
    return f"{phone} opted out of this tenant's SMS (texted STOP); the message was not sent"


@dataclass(frozen=True, slots=True)
class _Recipient:
    """Where a message to a customer would go by SMS, or why it will not (``refusal``: reason, detail)."""

    to_number: str | None
    number: PhoneNumber | None
    refusal: tuple[str, str] | None


def _recipient(session: Session, *, tenant_id: str, customer_id: str) -> _Recipient:
    to_number = _phone_of(session, tenant_id=tenant_id, customer_id=customer_id)
    if to_number is None:
        detail = f"customer {customer_id} has no phone number; the message was not sent"
        return _Recipient(None, None, ("no_phone", detail))
    number = _number_for(SmsRepository(session, tenant_id), to_number)
    if number is None:
        detail = "the tenant has no SMS number to send from; register one under /v1/channels/sms/numbers"
        return _Recipient(to_number, None, ("no_number", detail))
    if is_opted_out(session, tenant_id=tenant_id, phone=to_number):
        return _Recipient(to_number, number, ("opted_out", _opted_out_detail(to_number)))
    return _Recipient(to_number, number, None)


def recipient_refusal(session: Session, tenant_id: str, customer_id: str) -> MessageDelivery | None:
    """The SMS channel's recipient check (``DeliveryChecks``): why a message to the customer would not be
    texted (no phone, no number to send from, the phone opted out), or None."""
    refusal = _recipient(session, tenant_id=tenant_id, customer_id=customer_id).refusal
    if refusal is None:
        return None
    return MessageDelivery(status="refused", error_code=refusal[0], detail=refusal[1])


def send_message(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    message: MessageSent,
    status_callback: str | None,
) -> SmsOutbound:
    """Queue an outbound message of an SMS conversation for its customer's phone; return its send record.

    A message queued before returns its first record and queues nothing. A customer without a phone, a
    tenant without a number, and a phone that opted out are refused (``refused``, nothing sent; publishes
    ``sms.send_failed``). Otherwise the record is ``pending`` and the ``sms.send`` effect, which runs once
    this transaction commits, hands the message to the provider (see ``SmsSender``).
    """
    repo = SmsRepository(uow.session, tenant_id)
    sent_before = repo.outbound_of_message(message.message_id)
    if sent_before is not None:
        return sent_before
    recipient = _recipient(uow.session, tenant_id=tenant_id, customer_id=message.customer_id)
    to_number, number = recipient.to_number, recipient.number
    if recipient.refusal is not None:
        reason, detail = recipient.refusal
        return _refuse(
            uow,
            message,
            tenant_id=tenant_id,
            number=number,
            to_number=to_number,
            reason=reason,
            detail=detail,
        )
    assert number is not None
    row = _record(uow, message, tenant_id=tenant_id, number=number, to_number=to_number, status="pending")
    uow.session.flush()
    enqueue_effect(
        uow,
        tenant_id=tenant_id,
        kind=SEND_EFFECT,
        key=f"{tenant_id}:{message.message_id}",
        payload={"outbound_id": row.id, "body": message.body, "status_callback": status_callback},
    )
    return row


# -- the sms.send effect ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one attempt at a send needs, read just before it."""

    #: Whether the send is still to go out (see ``_unsent``).
    unsent: bool
    status: str
    provider: str | None
    account: ProviderAccount | None
    from_number: str | None
    to_number: str | None
    #: (reason, detail) when the send must not go out (the phone opted out since, the number is gone).
    refusal: tuple[str, str] | None


def _plan(session: Session, *, tenant_id: str, outbound_id: str) -> _Plan | None:
    repo = SmsRepository(session, tenant_id)
    row = repo.outbound_by_id(outbound_id)
    if row is None:
        return None
    number = NumberRepository(session, tenant_id).find_number(row.number_id) if row.number_id else None
    refusal: tuple[str, str] | None = None
    if number is None:
        refusal = ("no_number", "the number this message was to be sent from was removed; nothing was sent")
    elif row.to_number and is_opted_out(session, tenant_id=tenant_id, phone=row.to_number):
        refusal = ("opted_out", _opted_out_detail(row.to_number))
    return _Plan(
        unsent=_unsent(row),
        status=row.status,
        provider=number.provider if number else None,
        account=ProviderAccount(number.account_sid, number.auth_token) if number else None,
        from_number=number.number if number else None,
        to_number=row.to_number,
        refusal=refusal,
    )


def _unsent(row: SmsOutbound) -> bool:
    """Whether a send is still to go out: queued, or given up on for an unreachable provider (its effect
    may be retried)."""
    return row.status == "pending" or (row.status == "failed" and row.error_code == "provider_unavailable")


class SmsSender:
    """The ``sms.send`` effect: hands a pending send to its number's provider, outside any transaction.

    The opt-out is checked again just before each attempt (a STOP may have come in since the message was
    queued). A provider's refusal fails the send for good (``failed``, the provider's code kept); a
    provider that cannot be reached (429, 5xx, network) is retried; after the last attempt the send is
    ``failed`` with ``provider_unavailable``. Each outcome is recorded with the effect's own (see
    ``cxstack.backbone.effects``).
    """

    def __init__(self, providers: Mapping[str, SmsProvider]) -> None:
        self.providers = providers

    async def perform(self, job: EffectJob, read: Reader) -> dict[str, Any]:
        plan = await read(
            partial(_plan, tenant_id=job.tenant_id, outbound_id=str(job.payload["outbound_id"]))
        )
        if plan is None or not plan.unsent:
            return {"skipped": plan.status if plan else "missing"}
        if plan.refusal is not None:
            reason, detail = plan.refusal
            raise EffectFailed(detail, details={"reason": reason, "status": "refused"})
        assert plan.provider and plan.account and plan.from_number and plan.to_number
        try:
            result = await self.providers[plan.provider].send(
                plan.account,
                OutboundSms(
                    from_number=plan.from_number,
                    to_number=plan.to_number,
                    body=str(job.payload["body"]),
                    status_callback=job.payload.get("status_callback"),
                ),
            )
        except SendRejected as rejected:
            raise EffectFailed(
                rejected.message,
                code=rejected.code,
                details={"reason": "provider_rejected", "status": "failed"},
            ) from rejected
        return {"provider_sid": result.provider_sid, "status": result.status}

    def on_done(self, uow: UnitOfWork, job: EffectJob, result: dict[str, Any]) -> None:
        """Record the provider's id and status on the send; publish ``sms.submitted``."""
        provider_sid = result.get("provider_sid")
        repo = SmsRepository(uow.session, job.tenant_id)
        row = repo.outbound_by_id(str(job.payload["outbound_id"]))
        if row is None or not isinstance(provider_sid, str) or not _unsent(row):
            return
        status = str(result.get("status"))
        row.provider_sid = provider_sid
        row.error_code = row.error_message = None
        row.status = status if status in STATUS_RANK and status != "refused" else "queued"
        row.updated_at = uow.clock.now()
        uow.publish(
            SmsSubmitted(
                message_id=row.message_id,
                conversation_id=row.conversation_id,
                customer_id=row.customer_id,
                provider=row.provider or "",
                provider_sid=provider_sid,
                from_number=row.from_number or "",
                to_number=row.to_number or "",
                status=row.status,
            ),
            tenant_id=row.tenant_id,
            subject=row.conversation_id,
            source=SOURCE,
        )
        _lock_provider_sid(uow, provider_sid)
        uow.session.flush()
        for early in repo.unmatched_status_receipts(provider_sid):
            early.outbound_id = row.id
            _advance(uow, row, status=early.status, error_code=early.error_code)

    def on_failed(self, uow: UnitOfWork, job: EffectJob, failure: EffectFailed) -> None:
        """Record why the send did not go out (refused, rejected, or the provider unreachable to the last
        attempt); publish ``sms.send_failed``."""
        row = SmsRepository(uow.session, job.tenant_id).outbound_by_id(str(job.payload["outbound_id"]))
        if row is None or not _unsent(row):
            return
        default_reason = "provider_unavailable" if failure.gave_up else "provider_rejected"
        reason = str(failure.details.get("reason", default_reason))
        row.status = str(failure.details.get("status", "failed"))
        row.error_code = failure.code or reason
        row.error_message = failure.message
        row.updated_at = uow.clock.now()
        _publish_failed(uow, row, reason=reason, error_code=failure.code)


def _advance(uow: UnitOfWork, row: SmsOutbound, *, status: str, error_code: str | None) -> bool:
    if STATUS_RANK.get(status, -1) <= STATUS_RANK.get(row.status, -1):
        return False
    previous = row.status
    row.status = status
    row.updated_at = uow.clock.now()
    if error_code is not None:
        row.error_code = error_code
    uow.publish(
        DeliveryUpdated(
            message_id=row.message_id,
            conversation_id=row.conversation_id,
            customer_id=row.customer_id,
            provider_sid=row.provider_sid or "",
            status=status,
            previous_status=previous,
            error_code=error_code,
        ),
        tenant_id=row.tenant_id,
        subject=row.conversation_id,
        source=SOURCE,
    )
    return True


def record_status(uow: UnitOfWork, *, route: NumberRoute, report: StatusReport) -> bool:
    """Apply a delivery status callback; return whether it moved the message's status forward.

    The same status of the same message is processed once; an earlier status than the one recorded is
    kept but changes nothing. Publishes ``sms.delivery_updated`` when the status moves.
    """
    repo = SmsRepository(uow.session, route.tenant_id)
    _lock_provider_sid(uow, report.message_sid)
    if repo.status_receipt(report.message_sid, report.status) is not None:
        return False
    row = repo.outbound_by_provider_sid(report.message_sid)
    uow.session.add(
        SmsStatusReceipt(
            id=new_id("ssr"),
            tenant_id=route.tenant_id,
            provider_sid=report.message_sid,
            status=report.status,
            error_code=report.error_code,
            outbound_id=row.id if row is not None else None,
            received_at=uow.clock.now(),
        )
    )
    if row is None:
        return False
    return _advance(uow, row, status=report.status, error_code=report.error_code)


def get_outbound(session: Session, *, tenant_id: str, message_id: str) -> OutboundOut:
    """Return what became of an outbound message on SMS; raises NotFound when it was not (yet) handled."""
    row = SmsRepository(session, tenant_id).outbound_of_message(message_id)
    if row is None:
        raise NotFound(f"message {message_id} has no SMS send (yet)", field="message_id")
    return OutboundOut.model_validate(row)
