"""The in-app channel's subscription and effect: a reply in an in-app conversation is pushed to the app
users who have no socket open (``inapp.push``, performed after the subscription's transaction commits, so
a slow push service holds up no write)."""

from __future__ import annotations

from cxstack.backbone.effects import EffectRegistry
from cxstack.backbone.envelope import Event
from cxstack.backbone.subscriptions import EventHandlers, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.inapp.plugins.apns import ApnsPushProvider
from cxstack.channels.inapp.plugins.base import PushProvider
from cxstack.channels.inapp.plugins.fcm import FcmPushProvider
from cxstack.channels.inapp.plugins.webhook import WebhookPushProvider
from cxstack.channels.inapp.service import PUSH_EFFECT, PushSender, queue_pushes
from cxstack.config import InappSettings
from cxstack.records.conversations.schemas import MessageSent

SUBSCRIPTION = "channels.inapp.push"


def register(registry: SubscriptionRegistry) -> None:
    handlers = EventHandlers()

    @handlers.on(MessageSent)
    def _sent(uow: UnitOfWork, message: MessageSent, event: Event) -> None:
        queue_pushes(uow, tenant_id=event.tenant, message=message)

    registry.add(
        SUBSCRIPTION,
        handlers,
        description="Queues push notifications of in-app replies for users with no open socket.",
    )


def direct_providers(settings: InappSettings) -> dict[str, PushProvider]:
    """Return the providers that push to devices directly, by name (a device's ``provider``)."""
    return {
        "fcm": FcmPushProvider(
            api_url=settings.fcm_api_url,
            token_url=settings.fcm_token_url,
            timeout_s=settings.push_timeout_seconds,
        ),
        "apns": ApnsPushProvider(
            production_url=settings.apns_url,
            sandbox_url=settings.apns_sandbox_url,
            ca_file=settings.apns_ca_file,
            timeout_s=settings.push_timeout_seconds,
        ),
    }


def register_effects(
    registry: EffectRegistry, settings: InappSettings, provider: PushProvider | None = None
) -> None:
    """Register the push effect; ``provider`` defaults to posting to the tenant's push URL, and devices of
    tenants with FCM or APNs credentials are pushed to through those (endpoints from ``settings``:
    ``Settings.inapp``)."""
    sender = PushSender(provider or WebhookPushProvider(), direct=direct_providers(settings))
    registry.add(
        PUSH_EFFECT,
        sender.perform,
        on_done=sender.on_done,
        on_failed=sender.on_failed,
        description="Pushes a reply's notification to an app user's devices.",
        close=sender.aclose,
    )
