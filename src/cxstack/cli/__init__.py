"""The ``cxstack`` command line."""
