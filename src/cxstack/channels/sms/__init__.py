"""The SMS channel: numbers, provider webhooks, opt-outs, outbound sends and delivery statuses."""
