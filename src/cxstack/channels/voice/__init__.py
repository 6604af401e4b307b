"""The voice channel: calls through a provider's webhooks and REST API (``plugins/``), an IVR, queued calls,
agents in a conference, voicemail and recordings."""
