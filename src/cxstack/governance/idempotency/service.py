"""Idempotent requests: the first response to a key is stored with the change it made, in one transaction.

A retry with the same key and the same request gets that response back and changes nothing; the same key
with a different request is refused (422, as the IETF Idempotency-Key draft recommends).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.idempotency.models import IdempotentResponse
from cxstack.kit.errors import DomainError, ValidationFailed

MAX_KEY_LENGTH = 255
#: The first half of the two-part advisory lock keys that serialise requests sharing an Idempotency-Key (two
#: 32-bit keys never collide with the single 64-bit keys used elsewhere).
IDEMPOTENCY_LOCK_SPACE = 0x69646D70  # "idmp"


class IdempotencyKeyReused(DomainError):
    status = 422
    code = "idempotency_key_reused"
    title = "Idempotency-Key reused with a different request"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes
    replayed: bool


def canonical_body(body: bytes) -> bytes:
    """Return a JSON body in canonical form (keys sorted, no spaces), so that the same document written
    with its keys in another order or other whitespace is the same request; any other body as it is."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def fingerprint_of(method: str, path: str, body: bytes, *, query: str = "") -> str:
    """Return the digest that tells two requests apart: method, path, query string and body (JSON
    compared as documents: see ``canonical_body``).

    Pass the query in a canonical order (sorted parameters), so the same request written two ways matches.
    """
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", query.encode(), b"\0", canonical_body(body)):
        digest.update(part)
    return digest.hexdigest()


def lock_key(uow: UnitOfWork, *, tenant_id: str, key: str) -> None:
    """Hold the tenant's ``key`` until this transaction ends, so requests with one key run one at a time.

    Without it two concurrent retries on PostgreSQL both miss the stored response and run the change twice;
    the second then fails on what the first wrote (an identity it linked) instead of replaying its answer.
    The embedded driver needs nothing: its single writer already runs transactions one after another.
    """
    if uow.session.get_bind().dialect.name != "postgresql":
        return
    uow.session.execute(
        text("SELECT pg_advisory_xact_lock(:space, hashtext(:name))"),
        {"space": IDEMPOTENCY_LOCK_SPACE, "name": f"{tenant_id}:{key}"},
    )


def check_key(key: str) -> None:
    """Raise ValidationFailed for a key that is empty or too long."""
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters", field="Idempotency-Key"
        )


def find_response(session: Session, *, tenant_id: str, key: str, fingerprint: str) -> StoredResponse | None:
    """Return the stored response for ``key``; raises IdempotencyKeyReused if the request differs."""
    stored = session.scalar(
        select(IdempotentResponse).where(
            IdempotentResponse.tenant_id == tenant_id, IdempotentResponse.key == key
        )
    )
    if stored is None:
        return None
    if stored.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key!r} was first used with a different request; use a new key",
            field="Idempotency-Key",
        )
    return StoredResponse(status=stored.status, body=stored.body, replayed=True)


def remember_response(
    uow: UnitOfWork, *, tenant_id: str, key: str, fingerprint: str, status: int, body: bytes
) -> None:
    uow.session.add(
        IdempotentResponse(
            tenant_id=tenant_id,
            key=key,
            fingerprint=fingerprint,
            status=status,
            body=body,
            created_at=uow.clock.now(),
        )
    )
