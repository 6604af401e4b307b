"""The voice channel's effects: changes to live calls are handed to the provider after commit."""

from __future__ import annotations

from cxstack.backbone.effects import EffectRegistry
from cxstack.channels.voice.control import UPDATE_EFFECT, CallUpdater
from cxstack.channels.voice.settings import VoiceSettings


def register_effects(registry: EffectRegistry, settings: VoiceSettings | None = None) -> None:
    """Register the voice effects; ``settings`` default to the environment (``CXSTACK_VOICE_*``)."""
    updater = CallUpdater(settings or VoiceSettings())
    registry.add(
        UPDATE_EFFECT,
        updater.perform,
        on_done=updater.on_done,
        on_failed=updater.on_failed,
        description="Gives a live call new TwiML (connect to an agent, hold, transfer) at its provider.",
    )
