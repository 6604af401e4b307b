"""Optimistic concurrency: a record's integer ``version``, raised by one on every change, lets a writer
say which version its change was made on, so that two people editing one record get a conflict rather
than the second silently overwriting the first."""

from __future__ import annotations

from collections.abc import Collection

from cxstack.kit.errors import EditConflict


def check_version(*, noun: str, current: int, expected: Collection[int] | None) -> None:
    """Return if ``expected`` is None (the writer names no version) or holds ``current``; raise
    EditConflict naming both versions otherwise."""
    if expected is None or current in expected:
        return
    had = " or ".join(str(version) for version in sorted(expected))
    raise EditConflict(
        f"The {noun} was changed by someone else since you read it (version {current}, you had {had}): "
        "read it again and reapply your change",
        field="If-Match",
        current_version=current,
    )
