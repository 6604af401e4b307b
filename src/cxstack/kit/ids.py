"""Identifiers: a type prefix and a ULID, so ids sort by creation time and say what they name.

Each thread makes its own ULIDs: 48 bits of milliseconds, then 80 bits that start random in each
millisecond and count up within it, so one thread's ids sort in the order it made them. python-ulid's
generator does the same behind a lock and ``os.urandom``; both let go of the GIL, and on the request path
that gave the writer thread the interpreter for up to a switch interval per id.
"""

from __future__ import annotations

import random
import threading
import time

from ulid import base32

_RANDOM_BITS = 80
#: Room left to count up within one millisecond before the random part would overflow.
_COUNT_ROOM = 1 << 32


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.millis = -1
        self.randomness = 0
        # Seeded from the operating system once per thread; drawing from it never leaves the interpreter.
        self.random = random.Random()


_state = _ThreadState()


def new_ulid() -> str:
    """Return a fresh ULID (26 characters of Crockford base32)."""
    state = _state
    millis = time.time_ns() // 1_000_000
    if millis > state.millis:
        state.millis = millis
        state.randomness = state.random.getrandbits(_RANDOM_BITS) % ((1 << _RANDOM_BITS) - _COUNT_ROOM)
    else:
        # The same millisecond (or the clock stepped back): count up from the last id, still sorting after it.
        state.randomness += 1
    value = state.millis << _RANDOM_BITS | state.randomness
    return base32.encode(value.to_bytes(16, "big"))


def new_id(prefix: str) -> str:
    """Return a fresh id such as ``cus_01J9Z3...``."""
    return f"{prefix}_{new_ulid()}"
