"""Passwords: the rules a new one must meet, and argon2id hashes (never the password itself).

Hashing and checking take tens of milliseconds of CPU on purpose; callers run them off the event loop and
outside any write transaction (``asyncio.to_thread``), then hand the result to the service.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cxstack.governance.staff.schemas import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from cxstack.kit.errors import ValidationFailed

_hasher = PasswordHasher()
#: Checked against when nobody has the email given, so that an unknown user takes as long as a wrong
#: password (no enumeration by timing).
_DECOY = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class PasswordHash:
    """A new password that met the rules, hashed."""

    value: str


def check_password_rules(password: str, *, field: str = "password") -> None:
    """Raises ValidationFailed naming ``field`` for a password that is too short or too long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field=field)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(f"a password has at most {MAX_PASSWORD_LENGTH} characters", field=field)


def hash_password(password: str, *, field: str = "password") -> PasswordHash:
    """Return the argon2id hash of a password that meets the rules; raises ValidationFailed."""
    check_password_rules(password, field=field)
    return PasswordHash(_hasher.hash(password))


def password_matches(password_hash: str | None, password: str) -> bool:
    """Return whether ``password`` is the one hashed (False for no hash: the same work is done)."""
    try:
        return _hasher.verify(password_hash or _DECOY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    """Return a random password of 20 characters (for users created from the command line)."""
    return secrets.token_urlsafe(15)


def new_token() -> str:
    """Return a fresh random token for a cookie or a link (43 characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def digest_of_token(token: str) -> str:
    """Return the SHA-256 digest a token is stored as."""
    return hashlib.sha256(token.encode()).hexdigest()
