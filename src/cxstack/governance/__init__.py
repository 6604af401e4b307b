"""Cross-cutting governance: tenants, API keys, audit and idempotent requests."""
