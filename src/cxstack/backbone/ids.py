"""Identifiers: a type prefix and a ULID, so ids sort by creation time and say what they name."""

from __future__ import annotations

from ulid import ULID


def new_id(prefix: str) -> str:
    """Return a fresh id such as ``cus_01J9Z3...``."""
    return f"{prefix}_{ULID()}"


def new_ulid() -> str:
    return str(ULID())
