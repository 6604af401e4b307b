"""Writing and reading the audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.backbone.ids import new_id
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.audit.models import AuditEntry


def record_audit(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    action: str,
    target_type: str,
    target_id: str,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an audit entry in the current transaction, attributed to the unit of work's actor."""
    entry = AuditEntry(
        id=new_id("aud"),
        tenant_id=tenant_id,
        actor=uow.context.actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        detail=detail or {},
        correlation_id=uow.context.correlation_id,
        at=uow.clock.now(),
    )
    uow.session.add(entry)
    return entry


def list_audit(
    session: Session, *, tenant_id: str, target_id: str | None = None, limit: int = 100
) -> Sequence[AuditEntry]:
    """Return a tenant's newest audit entries first, optionally for one target."""
    query = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    return session.scalars(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)).all()
