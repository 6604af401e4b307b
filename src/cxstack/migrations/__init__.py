"""Alembic migrations of cxstack's schema; run with ``cxstack db upgrade``."""
