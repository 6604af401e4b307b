"""The event backbone: envelope, catalog, outbox, bus, subscriptions, timers and replay."""
