"""Operators' keys: they manage tenants and tenant keys on ``/v1/operator`` and are valid nowhere else.

An operator key belongs to no tenant, so its own issue and revocation are not in any tenant's audit log;
what an operator does to a tenant is, attributed to ``operator_key:<id>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.tenants.models import OperatorKey
from cxstack.governance.tenants.schemas import IssuedOperatorKey, OperatorKeyOut
from cxstack.governance.tenants.service import (
    KEY_PREFIX,
    LAST_USED_RESOLUTION,
    OPERATOR_KEY_PREFIX,
    WrongKeyKind,
    digest_of,
    new_secret,
)
from cxstack.kit.errors import NotFound, Unauthorized, ValidationFailed
from cxstack.kit.ids import new_id


@dataclass(frozen=True, slots=True)
class OperatorHolder:
    operator_key_id: str
    last_used_at: datetime | None


def issue_operator_key(uow: UnitOfWork, *, name: str, key: str | None = None) -> IssuedOperatorKey:
    """Issue an operator key and return it with its secret (shown once); raises ValidationFailed for an
    empty name or a chosen ``key`` without the ``cxo_`` prefix."""
    if not name.strip():
        raise ValidationFailed("a key's name must not be empty", field="name")
    secret = new_secret(OPERATOR_KEY_PREFIX, key)
    operator_key = OperatorKey(
        id=new_id("opk"),
        name=name.strip(),
        prefix=secret[:10],
        digest=digest_of(secret),
        created_at=uow.clock.now(),
        revoked_at=None,
        last_used_at=None,
    )
    uow.session.add(operator_key)
    return IssuedOperatorKey(**OperatorKeyOut.model_validate(operator_key).model_dump(), key=secret)


def list_operator_keys(session: Session) -> list[OperatorKeyOut]:
    """Return every operator key, revoked ones included, oldest first."""
    keys = session.scalars(select(OperatorKey).order_by(OperatorKey.id)).all()
    return [OperatorKeyOut.model_validate(k) for k in keys]


def revoke_operator_key(uow: UnitOfWork, *, operator_key_id: str) -> OperatorKeyOut:
    """Revoke an operator key and return it; revoking a revoked key changes nothing. Raises NotFound."""
    operator_key = uow.session.get(OperatorKey, operator_key_id)
    if operator_key is None:
        raise NotFound(f"operator key {operator_key_id} does not exist", field="operator_key_id")
    if operator_key.revoked_at is None:
        operator_key.revoked_at = uow.clock.now()
    return OperatorKeyOut.model_validate(operator_key)


def authenticate_operator(session: Session, *, key: str) -> OperatorHolder:
    """Return the holder of a valid, unrevoked operator key; raises WrongKeyKind for a tenant key,
    Unauthorized for any other key that is not valid."""
    if key.startswith(KEY_PREFIX):
        raise WrongKeyKind("a tenant API key is not valid on operator routes; use an operator key (cxo_…)")
    row = session.execute(
        select(OperatorKey.id, OperatorKey.revoked_at, OperatorKey.last_used_at).where(
            OperatorKey.digest == digest_of(key)
        )
    ).first()
    if row is None or row.revoked_at is not None:
        raise Unauthorized("the operator key is not valid")
    return OperatorHolder(operator_key_id=row.id, last_used_at=row.last_used_at)


def record_operator_key_use(uow: UnitOfWork, *, operator_key_id: str) -> bool:
    """Set an operator key's ``last_used_at`` to now unless it was set less than a minute ago."""
    now = uow.clock.now()
    result = uow.session.execute(
        update(OperatorKey)
        .where(
            OperatorKey.id == operator_key_id,
            or_(OperatorKey.last_used_at.is_(None), OperatorKey.last_used_at <= now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
