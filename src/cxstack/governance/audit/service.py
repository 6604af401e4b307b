"""Writing and reading the audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.audit.models import AuditEntry
from cxstack.governance.audit.schemas import AuditEntryOut
from cxstack.kit.clock import utc
from cxstack.kit.errors import ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page, paginate


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


def list_audit_page(
    session: Session,
    *,
    tenant_id: str,
    actor: str | None = None,
    action: str | None = None,
    subject: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[AuditEntryOut]:
    """Return a page of the tenant's audit entries, newest first, filtered by actor, action, subject (the
    id of the record acted on) and time (``since`` inclusive, ``until`` exclusive; naive times are UTC).

    Raises ValidationFailed naming ``until`` when it is not after ``since``, or for a bad cursor or limit.
    """
    since, until = (utc(since) if since else None), (utc(until) if until else None)
    if since is not None and until is not None and until <= since:
        raise ValidationFailed("until must be later than since", field="until")
    query = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if subject is not None:
        query = query.where(AuditEntry.target_id == subject)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    page = paginate(session, query, id_column=AuditEntry.id, cursor=cursor, limit=limit, descending=True)
    return Page(items=[AuditEntryOut.model_validate(e) for e in page.items], next_cursor=page.next_cursor)
