"""Whether a message to the customer reached them: what each channel refuses to deliver, asked when the
message is posted (so the poster's answer says so), and refusals or failures the channels report later.

A channel registers a ``RecipientCheck`` in ``DeliveryChecks`` (built in ``wiring``): the SMS channel
refuses a phone that texted STOP. A message posted to a customer the check refuses is still stored (the
agent's words are part of the conversation) with its ``delivery`` saying why; the channel, which checks
again before it sends, reports the refusal with ``record_delivery_failure``, as it reports a provider's.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.records.conversations import transitions
from cxstack.records.conversations.repository import ConversationRepository
from cxstack.records.conversations.schemas import MessageDelivery, MessageDeliveryFailed

#: (session, tenant_id, customer_id) -> why the channel will not deliver to the customer, or None.
RecipientCheck = Callable[[Session, str, str], MessageDelivery | None]


class DeliveryChecks:
    """The recipient checks of the channels that have one, by channel."""

    def __init__(self) -> None:
        self._checks: dict[str, RecipientCheck] = {}

    def add(self, channel: str, check: RecipientCheck) -> None:
        self._checks[channel] = check

    def refusal(
        self, session: Session, *, tenant_id: str, channel: str, customer_id: str
    ) -> MessageDelivery | None:
        """Return why ``channel`` will not deliver to the customer now, or None."""
        check = self._checks.get(channel)
        return check(session, tenant_id, customer_id) if check is not None else None


def record_delivery_failure(
    uow: UnitOfWork, *, tenant_id: str, message_id: str, delivery: MessageDelivery
) -> None:
    """Record on a message why it did not reach the customer, and publish ``message.delivery_failed`` (the
    timeline shows it). The caller reports each refusal or failure once. Raises NotFound."""
    message = ConversationRepository(uow.session, tenant_id).get_message(message_id)
    message.delivery = delivery.model_dump()
    uow.publish(
        MessageDeliveryFailed(
            message_id=message.id,
            conversation_id=message.conversation_id,
            customer_id=message.customer_id,
            channel=message.channel,
            status=delivery.status,
            error_code=delivery.error_code,
            detail=delivery.detail,
        ),
        tenant_id=tenant_id,
        subject=message.conversation_id,
        source=transitions.SOURCE,
    )
