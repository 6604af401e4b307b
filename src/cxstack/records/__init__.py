"""The customer record every layer shares: customers, identities, accounts, conversations, messages,
cases, notes, tags and the cross-channel timeline. Other layers use its ``service`` and ``schemas``
modules only."""
