"""The voice channel: Twilio-compatible call webhooks, an IVR, queued calls, agents, voicemail."""
