"""The SMS channel's subscriptions and effects: outbound messages of SMS conversations are queued by a
subscription and handed to the provider by the ``sms.send`` effect, after the queueing transaction commits."""

from __future__ import annotations

from cxstack.backbone.effects import EffectRegistry
from cxstack.backbone.envelope import Event
from cxstack.backbone.subscriptions import EventHandlers, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.sms.outbound import SEND_EFFECT, SmsSender, send_message
from cxstack.channels.sms.plugins.base import SmsProvider
from cxstack.channels.sms.plugins.twilio import TwilioSmsProvider
from cxstack.config import SmsSettings
from cxstack.records.conversations.schemas import MessageSent, shown_to_customer

SUBSCRIPTION = "channels.sms.outbound"
#: Where the provider reports delivery statuses, under the public URL (``CXSTACK_SMS_PUBLIC_URL``).
STATUS_CALLBACK_PATH = "/hooks/sms/twilio/status"


def providers_from(settings: SmsSettings) -> dict[str, SmsProvider]:
    """Return one instance of every provider plugin, configured by ``settings``."""
    return {
        TwilioSmsProvider.name: TwilioSmsProvider(
            api_url=settings.twilio_api_url, timeout_s=settings.send_timeout_seconds
        )
    }


class OutboundSender:
    """Handles ``message.sent``: a message on the sms channel is queued for the customer's phone.

    The send is recorded per message in the handler's transaction, so a redelivered event queues nothing
    more. The provider is not called here but by the ``sms.send`` effect once this transaction commits, so
    a slow provider holds up no write.
    """

    def __init__(self, *, status_callback: str | None) -> None:
        self.status_callback = status_callback

    def __call__(self, uow: UnitOfWork, message: MessageSent, event: Event) -> None:
        if message.channel != "sms" or not shown_to_customer(message.visibility):
            return
        send_message(uow, tenant_id=event.tenant, message=message, status_callback=self.status_callback)


def status_callback_url(settings: SmsSettings) -> str | None:
    """Return where outbound messages ask for status callbacks, or None without a public URL."""
    return settings.public_url.rstrip("/") + STATUS_CALLBACK_PATH if settings.public_url else None


def register(registry: SubscriptionRegistry, settings: SmsSettings) -> None:
    """Register the SMS subscriptions (``settings``: ``Settings.sms``)."""
    handlers = EventHandlers()
    handlers.add(MessageSent, handler=OutboundSender(status_callback=status_callback_url(settings)))
    registry.add(
        SUBSCRIPTION,
        handlers,
        description="Queues outbound messages of SMS conversations for the number's provider.",
    )


def register_effects(registry: EffectRegistry, settings: SmsSettings) -> None:
    """Register the SMS effects, with the providers ``settings`` (``Settings.sms``) configure."""
    sender = SmsSender(providers_from(settings))
    registry.add(
        SEND_EFFECT,
        sender.perform,
        on_done=sender.on_done,
        on_failed=sender.on_failed,
        description="Hands an outbound SMS to its number's provider.",
    )
