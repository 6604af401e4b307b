"""SLA calendars and policies of a tenant, and which policy a conversation falls under.

A policy matches a conversation when each condition it names (``priority``, ``channel``, ``queue_id``: the
conversation's ``attributes.queue_id``, ``customer_tier``: the customer's ``attributes.tier``) equals the
conversation's; a policy naming none matches every conversation. The most specific match wins: the one
naming more conditions, and among as many, the one naming the queue, then the customer tier, then the
priority, then the channel. Two policies may not name the same conditions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.audit.service import record_audit
from cxstack.kit.errors import Conflict, NotFound, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page
from cxstack.routing.sla.calendar import Calendar
from cxstack.routing.sla.models import SlaCalendar, SlaPolicy
from cxstack.routing.sla.repository import SlaRepository
from cxstack.routing.sla.schemas import (
    CalendarCreate,
    CalendarOut,
    CalendarUpdate,
    PolicyCreate,
    PolicyOut,
    PolicyUpdate,
)

#: A policy's conditions, most telling first (the order that breaks ties between equally specific ones).
CONDITIONS = ("queue_id", "customer_tier", "priority", "channel")
TARGETS = ("first_response_seconds", "next_response_seconds", "resolution_seconds")


# -- calendars -----------------------------------------------------------------------------------------


def calendar_of(row: SlaCalendar) -> Calendar:
    """Return the business-time arithmetic of a stored calendar."""
    return Calendar.parse(timezone=row.timezone, hours=row.hours, holidays=row.holidays)


def calendar_snapshot(row: SlaCalendar) -> dict[str, Any]:
    """Return what a clock keeps of a calendar (``Calendar.parse`` takes it back)."""
    return {"timezone": row.timezone, "hours": row.hours, "holidays": row.holidays}


def _calendar_out(row: SlaCalendar) -> CalendarOut:
    return CalendarOut.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "timezone": row.timezone,
            "hours": row.hours,
            "holidays": row.holidays,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


def _checked_calendar(*, timezone: str, hours: dict[str, Any], holidays: Sequence[Any]) -> Calendar:
    return Calendar.parse(
        timezone=timezone,
        hours={day: [interval.model_dump() for interval in intervals] for day, intervals in hours.items()},
        holidays=[{"date": holiday.date, "name": holiday.name} for holiday in holidays],
    )


def _require_calendar(repo: SlaRepository, calendar_id: str, *, field: str | None = None) -> SlaCalendar:
    row = repo.calendar(calendar_id)
    if row is None:
        raise NotFound(f"SLA calendar {calendar_id} does not exist", field=field)
    return row


def create_calendar(uow: UnitOfWork, *, tenant_id: str, data: CalendarCreate) -> CalendarOut:
    """Store a calendar; raises ValidationFailed naming the bad field (nothing is stored then)."""
    calendar = _checked_calendar(timezone=data.timezone, hours=data.hours, holidays=data.holidays)
    now = uow.clock.now()
    row = SlaCalendar(
        id=new_id("cal"),
        tenant_id=tenant_id,
        name=data.name,
        timezone=calendar.timezone,
        hours=calendar.hours_out(),
        holidays=calendar.holidays_out(),
        created_at=now,
        updated_at=now,
    )
    uow.session.add(row)
    record_audit(
        uow, tenant_id=tenant_id, action="sla_calendar.created", target_type="sla_calendar", target_id=row.id
    )
    uow.session.flush()
    return _calendar_out(row)


def update_calendar(
    uow: UnitOfWork, *, tenant_id: str, calendar_id: str, data: CalendarUpdate
) -> CalendarOut:
    """Change the fields given; raises NotFound, ValidationFailed. Clocks already running keep the
    calendar they started with."""
    row = _require_calendar(SlaRepository(uow.session, tenant_id), calendar_id)
    given = data.model_fields_set
    for required in ("name", "timezone", "hours"):
        if required in given and getattr(data, required) is None:
            raise ValidationFailed(f"{required} cannot be removed from a calendar", field=required)
    current = calendar_of(row)
    calendar = Calendar.parse(
        timezone=data.timezone if data.timezone is not None else current.timezone,
        hours=(
            {day: [i.model_dump() for i in intervals] for day, intervals in data.hours.items()}
            if data.hours is not None
            else current.hours_out()
        ),
        holidays=(
            [{"date": h.date, "name": h.name} for h in data.holidays]
            if data.holidays is not None
            else current.holidays_out()
        ),
    )
    if data.name is not None:
        row.name = data.name
    row.timezone = calendar.timezone
    row.hours = calendar.hours_out()
    row.holidays = calendar.holidays_out()
    row.updated_at = uow.clock.now()
    record_audit(
        uow,
        tenant_id=tenant_id,
        action="sla_calendar.updated",
        target_type="sla_calendar",
        target_id=row.id,
        detail={"fields": sorted(given)},
    )
    uow.session.flush()
    return _calendar_out(row)


def delete_calendar(uow: UnitOfWork, *, tenant_id: str, calendar_id: str) -> None:
    """Delete a calendar; raises NotFound, Conflict while a policy uses it."""
    repo = SlaRepository(uow.session, tenant_id)
    row = _require_calendar(repo, calendar_id)
    users = repo.policies_using(calendar_id)
    if users:
        raise Conflict(
            f"SLA calendar {calendar_id} is used by policy {', '.join(users)}; change those first",
            policies=list(users),
        )
    uow.session.delete(row)
    record_audit(
        uow, tenant_id=tenant_id, action="sla_calendar.deleted", target_type="sla_calendar", target_id=row.id
    )


def get_calendar(session: Session, *, tenant_id: str, calendar_id: str) -> CalendarOut:
    """Return a calendar; raises NotFound."""
    return _calendar_out(_require_calendar(SlaRepository(session, tenant_id), calendar_id))


def list_calendars(session: Session, *, tenant_id: str, cursor: str | None, limit: int) -> Page[CalendarOut]:
    """Return a page of the tenant's calendars, oldest first."""
    page = SlaRepository(session, tenant_id).calendars_page(cursor=cursor, limit=limit)
    return Page(items=[_calendar_out(row) for row in page.items], next_cursor=page.next_cursor)


# -- policies ------------------------------------------------------------------------------------------


def _policy_out(row: SlaPolicy) -> PolicyOut:
    return PolicyOut.model_validate(row, from_attributes=True)


def _check_policy(repo: SlaRepository, row: SlaPolicy) -> None:
    """Refuse a policy whose calendar is unknown, with no target, a warning not below its targets, or the
    conditions of another policy."""
    calendar = None
    if row.calendar_id is not None:
        calendar = calendar_of(_require_calendar(repo, row.calendar_id, field="calendar_id"))
    targets = {name: getattr(row, name) for name in TARGETS if getattr(row, name) is not None}
    if not targets:
        raise ValidationFailed(
            f"a policy needs at least one target ({', '.join(TARGETS)})", field="first_response_seconds"
        )
    if row.warn_before_seconds is not None:
        for name, seconds in targets.items():
            if row.warn_before_seconds >= seconds:
                raise ValidationFailed(
                    f"warn_before_seconds ({row.warn_before_seconds}) must be below {name} ({seconds})",
                    field="warn_before_seconds",
                )
    if calendar is not None:
        for name, seconds in targets.items():
            try:
                calendar.add_business_seconds(row.updated_at, seconds)
            except ValidationFailed as error:
                raise ValidationFailed(error.detail, field=name) from None
    conditions = _conditions(row)
    for other in repo.policies():
        if other.id != row.id and _conditions(other) == conditions:
            named = ", ".join(f"{k}={v}" for k, v in conditions.items()) or "no conditions"
            raise Conflict(
                f"policy {other.id} already has the same conditions ({named})",
                field=next(iter(conditions), "name"),
                policy_id=other.id,
            )


def _conditions(row: SlaPolicy) -> dict[str, str]:
    return {name: getattr(row, name) for name in CONDITIONS if getattr(row, name) is not None}


def _require_policy(repo: SlaRepository, policy_id: str) -> SlaPolicy:
    row = repo.policy(policy_id)
    if row is None:
        raise NotFound(f"SLA policy {policy_id} does not exist")
    return row


def create_policy(uow: UnitOfWork, *, tenant_id: str, data: PolicyCreate) -> PolicyOut:
    """Store a policy; raises NotFound (``calendar_id``), ValidationFailed, Conflict (another policy with
    the same conditions). Nothing is stored when it raises."""
    repo = SlaRepository(uow.session, tenant_id)
    now = uow.clock.now()
    row = SlaPolicy(
        id=new_id("slp"), tenant_id=tenant_id, created_at=now, updated_at=now, **data.model_dump()
    )
    _check_policy(repo, row)
    uow.session.add(row)
    record_audit(
        uow, tenant_id=tenant_id, action="sla_policy.created", target_type="sla_policy", target_id=row.id
    )
    uow.session.flush()
    return _policy_out(row)


def update_policy(uow: UnitOfWork, *, tenant_id: str, policy_id: str, data: PolicyUpdate) -> PolicyOut:
    """Replace the fields given (null clears one); raises NotFound, ValidationFailed, Conflict. Clocks
    already running keep the targets they started with."""
    repo = SlaRepository(uow.session, tenant_id)
    row = _require_policy(repo, policy_id)
    given = data.model_fields_set
    if "name" in given and data.name is None:
        raise ValidationFailed("name cannot be removed from a policy", field="name")
    changes = {name: getattr(data, name) for name in given}
    # Checked on a copy, so that a refused change leaves the stored row as it was.
    candidate = SlaPolicy(**{c.key: getattr(row, c.key) for c in SlaPolicy.__table__.columns} | changes)
    with uow.session.no_autoflush:
        _check_policy(repo, candidate)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = uow.clock.now()
    record_audit(
        uow,
        tenant_id=tenant_id,
        action="sla_policy.updated",
        target_type="sla_policy",
        target_id=row.id,
        detail={"fields": sorted(given)},
    )
    uow.session.flush()
    return _policy_out(row)


def delete_policy(uow: UnitOfWork, *, tenant_id: str, policy_id: str) -> None:
    """Delete a policy; raises NotFound. Clocks already running under it run on to their end."""
    row = _require_policy(SlaRepository(uow.session, tenant_id), policy_id)
    uow.session.delete(row)
    record_audit(
        uow, tenant_id=tenant_id, action="sla_policy.deleted", target_type="sla_policy", target_id=row.id
    )


def get_policy(session: Session, *, tenant_id: str, policy_id: str) -> PolicyOut:
    """Return a policy; raises NotFound."""
    return _policy_out(_require_policy(SlaRepository(session, tenant_id), policy_id))


def list_policies(session: Session, *, tenant_id: str, cursor: str | None, limit: int) -> Page[PolicyOut]:
    """Return a page of the tenant's policies, oldest first."""
    page = SlaRepository(session, tenant_id).policies_page(cursor=cursor, limit=limit)
    return Page(items=[_policy_out(row) for row in page.items], next_cursor=page.next_cursor)


def match_policy(
    session: Session,
    *,
    tenant_id: str,
    facts: dict[str, str | None],
    policies: Sequence[SlaPolicy] | None = None,
) -> SlaPolicy | None:
    """Return the most specific policy whose conditions all hold for ``facts`` (values of ``CONDITIONS``),
    or None when none does; among ``policies`` when given (the tenant's, read once for many matches)."""
    best: tuple[tuple[int, ...], SlaPolicy] | None = None
    candidates = SlaRepository(session, tenant_id).policies() if policies is None else policies
    for policy in candidates:
        conditions = _conditions(policy)
        if any(facts.get(name) != value for name, value in conditions.items()):
            continue
        rank = (len(conditions), *(int(name in conditions) for name in CONDITIONS))
        if best is None or rank > best[0]:
            best = (rank, policy)
    return best[1] if best is not None else None
