"""The voice channel's effects: changes to live calls, outgoing calls and copies of recordings are handed to
the provider after commit."""

from __future__ import annotations

from typing import Protocol, cast

import structlog

from cxstack.backbone.effects import EffectRegistry
from cxstack.backbone.envelope import Event
from cxstack.backbone.events import EventPayload
from cxstack.backbone.subscriptions import EventHandlers, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.voice.calls.control import UPDATE_EFFECT, CallUpdater, connect_agent
from cxstack.channels.voice.calls.outbound import PLACE_EFFECT, CallPlacer
from cxstack.channels.voice.plugins.base import VoiceProvider
from cxstack.channels.voice.plugins.twilio import TwilioVoiceProvider
from cxstack.channels.voice.recordings.service import COPY_EFFECT, RecordingCopier
from cxstack.channels.voice.schemas import AgentIn
from cxstack.config import VoiceSettings
from cxstack.governance.staff.service import get_user
from cxstack.kit.errors import Conflict, NotFound
from cxstack.kit.files import FileStore

log = structlog.get_logger("cxstack.voice")

SUBSCRIPTION = "channels.voice.routed_calls"


def provider_from(settings: VoiceSettings) -> VoiceProvider:
    """Return the voice provider, configured by ``settings``."""
    return TwilioVoiceProvider(
        api_url=settings.twilio_api_url,
        timeout_s=settings.update_timeout_seconds,
        download_timeout_s=settings.download_timeout_seconds,
    )


class AssignedWork(Protocol):
    """What the voice channel reads of routing's ``routing.assigned`` (the class is handed over by the
    composition root: a layer imports no other layer)."""

    agent_id: str
    kind: str
    call_id: str | None


def register(
    registry: SubscriptionRegistry,
    settings: VoiceSettings,
    *,
    provider: VoiceProvider,
    routing_assigned: type[EventPayload],
) -> None:
    """Register the voice channel's subscription: a queued call routing assigns to an agent is connected
    to them (as ``POST /v1/channels/voice/calls/{id}/connect`` does), through ``provider``."""
    handlers = EventHandlers()

    def _assigned(uow: UnitOfWork, payload: EventPayload, event: Event) -> None:
        work = cast(AssignedWork, payload)
        if work.kind != "call" or work.call_id is None:
            return
        try:
            agent = get_user(uow.session, tenant_id=event.tenant, user_id=work.agent_id)
            connect_agent(
                uow,
                tenant_id=event.tenant,
                call_id=work.call_id,
                data=AgentIn(agent_id=work.agent_id, agent_name=agent.name),
                settings=settings,
                provider=provider,
            )
        except (Conflict, NotFound) as refused:
            # The caller hung up, or someone took the call meanwhile: nothing to connect.
            log.info("routed call not connected", call_id=work.call_id, reason=refused.detail)

    handlers.add(routing_assigned, handler=_assigned)
    registry.add(
        SUBSCRIPTION,
        handlers,
        description="Connects a queued call to the agent routing assigned it to.",
    )


def register_effects(
    registry: EffectRegistry,
    settings: VoiceSettings,
    *,
    store: FileStore,
    provider: VoiceProvider | None = None,
) -> None:
    """Register the voice effects (``settings``: ``Settings.voice``), with ``provider`` or the one the
    settings configure; recordings are copied into ``store``."""
    provider = provider or provider_from(settings)
    updater = CallUpdater(settings, provider)
    registry.add(
        UPDATE_EFFECT,
        updater.perform,
        on_done=updater.on_done,
        on_failed=updater.on_failed,
        description="Changes a live call at its provider (connect to an agent, hold, transfer).",
    )
    placer = CallPlacer(provider)
    registry.add(
        PLACE_EFFECT,
        placer.perform,
        on_done=placer.on_done,
        on_failed=placer.on_failed,
        description="Creates an outgoing call to a customer at the provider.",
    )
    copier = RecordingCopier(settings, store, provider)
    registry.add(
        COPY_EFFECT,
        copier.perform,
        on_done=copier.on_done,
        on_failed=copier.on_failed,
        description="Copies a call's recording from the provider into the file store.",
    )
