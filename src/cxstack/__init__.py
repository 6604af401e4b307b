"""cxstack: an open-source customer-experience stack."""
