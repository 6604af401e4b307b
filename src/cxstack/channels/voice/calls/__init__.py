"""Calls: their lifecycle as the provider reports it, outgoing calls, what agents do with them (connect,
hold, transfer) in a conference of the call's own, escalations from other channels, the agent's view."""
