"""The voice channel's effects: changes to live calls, outgoing calls and copies of recordings are handed to
the provider after commit."""

from __future__ import annotations

from cxstack.backbone.effects import EffectRegistry
from cxstack.channels.voice.calls.control import UPDATE_EFFECT, CallUpdater
from cxstack.channels.voice.calls.outbound import PLACE_EFFECT, CallPlacer
from cxstack.channels.voice.plugins.base import VoiceProvider
from cxstack.channels.voice.plugins.twilio import TwilioVoiceProvider
from cxstack.channels.voice.recordings.service import COPY_EFFECT, RecordingCopier
from cxstack.config import VoiceSettings
from cxstack.kit.files import FileStore


def provider_from(settings: VoiceSettings) -> VoiceProvider:
    """Return the voice provider, configured by ``settings``."""
    return TwilioVoiceProvider(
        api_url=settings.twilio_api_url,
        timeout_s=settings.update_timeout_seconds,
        download_timeout_s=settings.download_timeout_seconds,
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
