"""The email channel's subscription and effect: a conversation's outbound messages on the email channel are
queued as replies to the customer by a subscription and handed to the SMTP relay by the ``email.send``
effect, after the queueing transaction commits (see ``replies``)."""

from __future__ import annotations

from cxstack.backbone.effects import EffectRegistry
from cxstack.backbone.envelope import Event
from cxstack.backbone.subscriptions import EventHandlers, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.email.replies import SEND_EFFECT, ReplySender, send_reply
from cxstack.kit.files import FileStore
from cxstack.kit.smtp_relay import RelaySettings
from cxstack.records.conversations.schemas import MessageSent

SUBSCRIPTION = "channels.email.replies"


def register(registry: SubscriptionRegistry, *, relay: RelaySettings | None, store: FileStore) -> None:
    """Register the reply queuer; with ``relay`` None, replies are recorded as not sent."""

    handlers = EventHandlers()

    @handlers.on(MessageSent)
    def _sent(uow: UnitOfWork, message: MessageSent, event: Event) -> None:
        send_reply(uow, tenant_id=event.tenant, data=message, relay=relay, store=store)

    registry.add(
        SUBSCRIPTION,
        handlers,
        description="Queues agents' replies in email conversations to be sent to the customer over SMTP.",
    )


def register_effects(registry: EffectRegistry, *, relay: RelaySettings | None, store: FileStore) -> None:
    """Register the effect that hands replies to the SMTP relay."""
    sender = ReplySender(relay, store)
    registry.add(
        SEND_EFFECT,
        sender.perform,
        on_done=sender.on_done,
        on_failed=sender.on_failed,
        description="Hands an email reply to the SMTP relay.",
    )
