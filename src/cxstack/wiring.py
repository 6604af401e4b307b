"""The composition root: the one place that lists every event type, every subscription and effect, and the
services a process shares.

Each layer declares its events as payload classes in its ``schemas.py`` (listed in ``EVENT_TYPES``) and its
subscriptions in its ``handlers.py`` (``register``). Nothing is registered by importing a module, and
nothing is made on first use: ``build_services`` makes each shared service once, typed, and the runtime
holds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cxstack.backbone.catalog import EventCatalog
from cxstack.backbone.database import Database
from cxstack.backbone.effects import EffectRegistry
from cxstack.backbone.live import LiveFeed
from cxstack.backbone.subscriptions import SubscriptionRegistry
from cxstack.channels.email import handlers as email_handlers
from cxstack.channels.email import schemas as email_schemas
from cxstack.channels.inapp import handlers as inapp_handlers
from cxstack.channels.inapp import schemas as inapp_schemas
from cxstack.channels.numbers import schemas as number_schemas
from cxstack.channels.numbers.routes import RouteCache
from cxstack.channels.sms import handlers as sms_handlers
from cxstack.channels.sms import outbound as sms_outbound
from cxstack.channels.sms import schemas as sms_schemas
from cxstack.channels.voice import handlers as voice_handlers
from cxstack.channels.voice import schemas as voice_schemas
from cxstack.channels.voice.plugins.base import VoiceProvider
from cxstack.channels.webchat import schemas as webchat_schemas
from cxstack.channels.webchat.hub import ChatHub
from cxstack.config import Settings
from cxstack.governance.staff import handlers as staff_handlers
from cxstack.governance.staff import schemas as staff_schemas
from cxstack.governance.staff.oidc_client import OidcClient
from cxstack.governance.staff.sessions import SessionPolicy
from cxstack.governance.tenants import schemas as tenant_schemas
from cxstack.governance.tenants.key_checks import KeyLookups, KeyUsage
from cxstack.kit.clock import Clock
from cxstack.kit.files import FileStore, local_file_store
from cxstack.kit.smtp_relay import RelaySettings
from cxstack.records.accounts import schemas as account_schemas
from cxstack.records.cases import schemas as case_schemas
from cxstack.records.conversations import schemas as conversation_schemas
from cxstack.records.conversations.service import DeliveryChecks
from cxstack.records.customers import schemas as customer_schemas
from cxstack.records.merges import schemas as merge_schemas
from cxstack.records.notes import schemas as note_schemas
from cxstack.records.tags import schemas as tag_schemas
from cxstack.records.timeline import handlers as timeline_handlers
from cxstack.routing import handlers as routing_handlers
from cxstack.routing import schemas as routing_schemas
from cxstack.routing.connections import Connections, Heartbeat
from cxstack.routing.held import Routers
from cxstack.routing.sla import handlers as sla_handlers
from cxstack.routing.sla import schemas as sla_schemas
from cxstack.workspace import handlers as workspace_handlers
from cxstack.workspace.mentions import schemas as mention_schemas


@dataclass(frozen=True, slots=True)
class Services:
    """What the parts of one process share, made once when the runtime is built."""

    #: Attachments, recordings and email bodies (under ``CXSTACK_DATA_DIR``).
    files: FileStore
    #: Open live-chat sockets of this process, by tenant and conversation.
    chat_hub: ChatHub
    #: Numbers' routes as the provider webhooks last read them.
    number_routes: RouteCache
    #: The voice provider the voice routes answer and ask (``Settings.voice``).
    voice_provider: VoiceProvider
    #: What each channel refuses to deliver, asked when a message to a customer is posted.
    delivery_checks: DeliveryChecks
    #: Tenant keys checked against the database, grouped under load.
    key_lookups: KeyLookups
    #: Keys' ``last_used_at`` and sessions' ``last_seen_at``, written off the request's path.
    key_usage: KeyUsage
    #: How long staff sessions last and when accounts lock (``Settings.auth``).
    session_policy: SessionPolicy
    #: Each tenant's routing engine in this process (rebuilt from the database when stale), with the
    #: agents' routing sockets open here.
    routers: Routers
    #: Renews this process's routing sockets in the database and sweeps those of stopped processes.
    routing_heartbeat: Heartbeat
    #: Requests to tenants' OIDC providers, with their discovery documents and keys kept a few minutes.
    oidc: OidcClient


def build_services(settings: Settings, *, db: Database, live: LiveFeed, clock: Clock) -> Services:
    """Return the services of a process on ``db`` whose sockets watch ``live``."""
    routers = Routers(
        Connections(
            heartbeat_s=settings.routing.heartbeat_seconds,
            away_after_s=settings.routing.away_after_seconds,
        )
    )
    return Services(
        files=local_file_store(settings.data_dir),
        chat_hub=ChatHub(db, live),
        number_routes=RouteCache(),
        voice_provider=voice_handlers.provider_from(settings.voice),
        delivery_checks=build_delivery_checks(),
        key_lookups=KeyLookups(db),
        key_usage=KeyUsage(db, clock),
        session_policy=session_policy(settings),
        routers=routers,
        routing_heartbeat=Heartbeat(db, routers.connections),
        oidc=OidcClient(
            timeout_s=settings.auth.oidc_timeout_seconds, allow_http=settings.auth.oidc_allow_http
        ),
    )


def build_catalog() -> EventCatalog:
    """Return the catalog of every event class cxstack publishes."""
    return EventCatalog(
        [
            *tenant_schemas.EVENT_TYPES,
            *staff_schemas.EVENT_TYPES,
            *customer_schemas.EVENT_TYPES,
            *merge_schemas.EVENT_TYPES,
            *account_schemas.EVENT_TYPES,
            *case_schemas.EVENT_TYPES,
            *note_schemas.EVENT_TYPES,
            *tag_schemas.EVENT_TYPES,
            *conversation_schemas.EVENT_TYPES,
            *number_schemas.EVENT_TYPES,
            *sms_schemas.EVENT_TYPES,
            *email_schemas.EVENT_TYPES,
            *voice_schemas.EVENT_TYPES,
            *webchat_schemas.EVENT_TYPES,
            *inapp_schemas.EVENT_TYPES,
            *sla_schemas.EVENT_TYPES,
            *routing_schemas.EVENT_TYPES,
            *mention_schemas.EVENT_TYPES,
        ]
    )


def build_subscriptions(
    settings: Settings,
    *,
    files: FileStore,
    routers: Routers,
    voice_provider: VoiceProvider | None = None,
) -> SubscriptionRegistry:
    """Return every subscription of cxstack, registered by each layer's ``handlers.register``, configured
    by ``settings``, storing into ``files`` (``Services.files``), routing with ``routers``
    (``Services.routers``) and connecting routed calls through ``voice_provider``
    (``Services.voice_provider``; default: the one the settings configure)."""
    registry = SubscriptionRegistry()
    timeline_handlers.register(registry)
    routing_handlers.register(registry, routers, call_queued=voice_schemas.CallQueued)
    voice_handlers.register(
        registry,
        settings.voice,
        provider=voice_provider or voice_handlers.provider_from(settings.voice),
        routing_assigned=routing_schemas.RoutingAssigned,
    )
    sms_handlers.register(registry, settings.sms)
    inapp_handlers.register(registry)
    email_handlers.register(registry, relay=email_relay(settings), store=files)
    sla_handlers.register(registry)
    workspace_handlers.register(registry)
    return registry


def build_effects(settings: Settings, *, files: FileStore) -> EffectRegistry:
    """Return every effect kind cxstack performs (calls to the outside world after commit), registered by
    each layer's ``handlers.register_effects``, with the in-flight limits ``CXSTACK_EFFECT_CONCURRENCY``
    sets per kind; raises ValueError when that names a kind not registered."""
    registry = EffectRegistry()
    sms_handlers.register_effects(registry, settings.sms)
    inapp_handlers.register_effects(registry, settings.inapp)
    voice_handlers.register_effects(registry, settings.voice, store=files)
    email_handlers.register_effects(registry, relay=email_relay(settings), store=files)
    staff_handlers.register_effects(
        registry,
        relay=email_relay(settings),
        mail=staff_handlers.ResetMailSettings(
            public_url=settings.auth.public_url, mail_from=settings.auth.mail_from
        ),
    )
    registry.limit_concurrency(settings.effect_concurrency)
    return registry


def build_delivery_checks() -> DeliveryChecks:
    """Return the channels' recipient checks, asked when a message to a customer is posted (the SMS
    channel refuses a phone that opted out)."""
    checks = DeliveryChecks()
    checks.add("sms", sms_outbound.recipient_refusal)
    return checks


def email_relay(settings: Settings) -> RelaySettings | None:
    """Return the SMTP relay replies go through, or None when ``CXSTACK_SMTP_RELAY_HOST`` is unset."""
    if not settings.smtp_relay_host:
        return None
    return RelaySettings(
        host=settings.smtp_relay_host,
        port=settings.smtp_relay_port,
        username=settings.smtp_relay_username,
        password=settings.smtp_relay_password,
        security=settings.smtp_relay_security,
        timeout_s=settings.smtp_relay_timeout_seconds,
    )


def session_policy(settings: Settings) -> SessionPolicy:
    """Return the lifetimes of staff sessions and the lock-out rule the settings give."""
    auth = settings.auth
    return SessionPolicy(
        idle=timedelta(minutes=auth.session_idle_minutes),
        absolute=timedelta(hours=auth.session_absolute_hours),
        lockout_attempts=auth.lockout_attempts,
        lockout=timedelta(minutes=auth.lockout_minutes),
    )
