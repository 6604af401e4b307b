"""SLA clocks: each target of a conversation's policy measured in business time on durable timers.

A running clock has a due time (its start plus the target, in the calendar's business time) and two
timers: one publishing ``sla.warned`` when ``warn_before_seconds`` of business time are left, one
publishing ``sla.breached`` at the due time. Pausing cancels the timers and keeps the business seconds
counted so far; resuming computes a new due time from what is left and schedules them again. A clock met
before its due time cancels its timers and publishes ``sla.met``. A timer fires once, in the transaction
that marks it fired, so whether a clock was met or breached is decided by whether its breach timer could
still be cancelled: each clock ends in exactly one of ``sla.met`` and ``sla.breached``, across restarts too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cxstack.backbone.timers import cancel_timer, schedule_timer
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff.visibility import Visibility
from cxstack.kit.errors import ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import MAX_PAGE_SIZE, decode_time_cursor, encode_time_cursor
from cxstack.records.conversations.service import get_conversation, seen_conversation_ids
from cxstack.routing.sla.calendar import HORIZON, AlwaysOpen, BusinessTime, Calendar
from cxstack.routing.sla.models import SlaClock, SlaPolicy
from cxstack.routing.sla.repository import SlaRepository
from cxstack.routing.sla.schemas import (
    AtRiskClockOut,
    AtRiskPageOut,
    ClockOut,
    ConversationSlaOut,
    SlaBreached,
    SlaClockEvent,
    SlaMet,
    SlaWarned,
)
from cxstack.routing.sla.service import calendar_snapshot

SOURCE = "cxstack/routing"
RUNNING, PAUSED, MET, BREACHED, CANCELLED = "running", "paused", "met", "breached", "cancelled"
#: The states of a clock still counting (or waiting to count again).
LIVE = (RUNNING, PAUSED)
RESPONSE_METRICS = ("first_response", "next_response")


def business_time(clock: SlaClock) -> BusinessTime:
    """Return the business time a clock counts in: its calendar, or around the clock."""
    if clock.calendar is None:
        return AlwaysOpen()
    return Calendar.parse(
        timezone=clock.calendar["timezone"],
        hours=clock.calendar["hours"],
        holidays=clock.calendar["holidays"],
    )


def _timer_key(clock: SlaClock, kind: str) -> str:
    return f"sla:{clock.id}:{kind}"


def _payload(cls: type[SlaClockEvent], clock: SlaClock, due_at: datetime, **extra: Any) -> Any:
    return cls(
        clock_id=clock.id,
        conversation_id=clock.conversation_id,
        policy_id=clock.policy_id,
        metric=clock.metric,
        due_at=due_at,
        **extra,
    )


def start_clock(
    uow: UnitOfWork, *, policy: SlaPolicy, conversation_id: str, metric: str, at: datetime, paused: bool
) -> SlaClock | None:
    """Start the ``metric`` clock of a conversation under ``policy`` (paused if ``paused``); return it, or
    None when the policy has no target for the metric."""
    target: int | None = getattr(policy, f"{metric}_seconds")
    if target is None:
        return None
    clock = SlaClock(
        id=new_id("slc"),
        tenant_id=policy.tenant_id,
        conversation_id=conversation_id,
        policy_id=policy.id,
        metric=metric,
        state=PAUSED,
        target_seconds=target,
        warn_before_seconds=policy.warn_before_seconds,
        calendar=_calendar_of(uow, policy),
        started_at=at,
        elapsed_seconds=0.0,
        resumed_at=None,
        due_at=None,
        warned_at=None,
        stopped_at=None,
    )
    uow.session.add(clock)
    if not paused:
        _run(uow, clock, at)
    return clock


def _after(business: BusinessTime, at: datetime, seconds: float) -> datetime:
    """``seconds`` of business time after ``at``; a calendar changed to have too few hours for the target
    in the years ahead makes it due at the end of that horizon rather than fail the handler forever."""
    try:
        return business.add_business_seconds(at, seconds)
    except ValidationFailed:
        return at + HORIZON


def _calendar_of(uow: UnitOfWork, policy: SlaPolicy) -> dict[str, Any] | None:
    if policy.calendar_id is None:
        return None
    row = SlaRepository(uow.session, policy.tenant_id).calendar(policy.calendar_id)
    return calendar_snapshot(row) if row is not None else None


def _run(uow: UnitOfWork, clock: SlaClock, at: datetime) -> None:
    business = business_time(clock)
    left = max(clock.target_seconds - clock.elapsed_seconds, 0.0)
    clock.state = RUNNING
    clock.resumed_at = at
    clock.due_at = _after(business, at, left)
    schedule_timer(
        uow,
        tenant_id=clock.tenant_id,
        key=_timer_key(clock, "breach"),
        fire_at=clock.due_at,
        subject=clock.conversation_id,
        event=_payload(SlaBreached, clock, clock.due_at),
    )
    if clock.warn_before_seconds is not None and clock.warned_at is None:
        warn_in = max(left - clock.warn_before_seconds, 0.0)
        schedule_timer(
            uow,
            tenant_id=clock.tenant_id,
            key=_timer_key(clock, "warning"),
            fire_at=_after(business, at, warn_in),
            subject=clock.conversation_id,
            event=_payload(SlaWarned, clock, clock.due_at),
        )


def _halt(uow: UnitOfWork, clock: SlaClock, at: datetime) -> bool:
    """Stop a running clock's timers and count its business seconds up to ``at``; return False (and
    change nothing) when it is due by then: its breach stands, published by its timer."""
    if clock.state != RUNNING:
        return clock.state == PAUSED
    assert clock.due_at is not None and clock.resumed_at is not None
    if at >= clock.due_at or not cancel_timer(
        uow, tenant_id=clock.tenant_id, key=_timer_key(clock, "breach")
    ):
        return False
    warning_pending = clock.warn_before_seconds is not None and clock.warned_at is None
    if warning_pending and not cancel_timer(uow, tenant_id=clock.tenant_id, key=_timer_key(clock, "warning")):
        clock.warned_at = at  # fired already; its own handler sets the time it fired
    clock.elapsed_seconds += business_time(clock).business_seconds_between(clock.resumed_at, at)
    clock.resumed_at = None
    return True


def pause_clock(uow: UnitOfWork, clock: SlaClock, *, at: datetime) -> None:
    """Pause a running clock at ``at`` (one already due stays running into its breach)."""
    if clock.state == RUNNING and _halt(uow, clock, at):
        clock.state = PAUSED
        clock.due_at = None


def resume_clock(uow: UnitOfWork, clock: SlaClock, *, at: datetime) -> None:
    """Resume a paused clock at ``at``: a new due time from the business seconds left, timers moved."""
    if clock.state == PAUSED:
        _run(uow, clock, at)


def meet_clock(uow: UnitOfWork, clock: SlaClock, *, at: datetime) -> None:
    """Mark a live clock met at ``at`` and publish ``sla.met`` (one due by then is left to its breach)."""
    if clock.state not in LIVE:
        return
    due_at = clock.due_at or _after(
        business_time(clock), at, max(clock.target_seconds - clock.elapsed_seconds, 0.0)
    )
    if not _halt(uow, clock, at):
        return
    clock.state, clock.stopped_at, clock.due_at = MET, at, due_at
    uow.publish(
        _payload(SlaMet, clock, due_at, met_at=at),
        tenant_id=clock.tenant_id,
        subject=clock.conversation_id,
        source=SOURCE,
    )


def cancel_clock(uow: UnitOfWork, clock: SlaClock, *, at: datetime) -> None:
    """Stop a live clock that no longer applies (its conversation closed unanswered); publishes nothing."""
    if clock.state in LIVE and _halt(uow, clock, at):
        clock.state, clock.stopped_at, clock.due_at = CANCELLED, at, None


def switch_policy(uow: UnitOfWork, clock: SlaClock, policy: SlaPolicy | None, *, at: datetime) -> None:
    """Put a live clock under another policy at ``at``: the business seconds counted so far stay, the new
    target, warning and calendar apply from now on (a running clock's due time and timers move). A policy
    without a target for the clock's metric (or none) cancels it; a clock due by ``at`` stays breached."""
    if clock.state not in LIVE:
        return
    target: int | None = getattr(policy, f"{clock.metric}_seconds") if policy is not None else None
    if policy is None or target is None:
        cancel_clock(uow, clock, at=at)
        return
    running = clock.state == RUNNING
    if not _halt(uow, clock, at):
        return
    clock.policy_id = policy.id
    clock.target_seconds = target
    clock.warn_before_seconds = policy.warn_before_seconds
    clock.calendar = _calendar_of(uow, policy)
    if running:
        _run(uow, clock, at)


def record_breach(uow: UnitOfWork, *, tenant_id: str, clock_id: str, at: datetime) -> None:
    """Mark a clock breached (its breach timer fired at ``at``)."""
    clock = SlaRepository(uow.session, tenant_id).clock(clock_id)
    if clock is not None and clock.state == RUNNING:
        clock.state, clock.stopped_at = BREACHED, at


def record_warning(uow: UnitOfWork, *, tenant_id: str, clock_id: str, at: datetime) -> None:
    """Note when a clock's warning fired."""
    clock = SlaRepository(uow.session, tenant_id).clock(clock_id)
    if clock is not None:
        clock.warned_at = at


# -- reading -------------------------------------------------------------------------------------------


def _clock_out(clock: SlaClock, now: datetime) -> ClockOut:
    state, left = clock.state, None
    if clock.state == RUNNING and clock.due_at is not None:
        left = business_time(clock).business_seconds_between(now, clock.due_at)
        if clock.due_at <= now:
            state = BREACHED  # its timer fires on the next round
    elif clock.state == PAUSED:
        left = clock.target_seconds - clock.elapsed_seconds
    return ClockOut(
        id=clock.id,
        metric=clock.metric,
        state=state,
        policy_id=clock.policy_id,
        target_seconds=clock.target_seconds,
        started_at=clock.started_at,
        due_at=clock.due_at,
        business_seconds_left=left,
        warned_at=clock.warned_at,
        stopped_at=clock.stopped_at,
    )


def conversation_sla(
    session: Session, *, tenant_id: str, conversation_id: str, now: datetime
) -> ConversationSlaOut:
    """Return the SLA clocks of a conversation as of ``now``; raises NotFound for an unknown conversation."""
    get_conversation(session, tenant_id=tenant_id, conversation_id=conversation_id)
    repo = SlaRepository(session, tenant_id)
    watched = repo.conversation(conversation_id)
    return ConversationSlaOut(
        conversation_id=conversation_id,
        policy_id=watched.policy_id if watched is not None else None,
        clocks=[_clock_out(clock, now) for clock in repo.clocks_of(conversation_id)],
    )


def at_risk(
    session: Session,
    *,
    tenant_id: str,
    now: datetime,
    within_seconds: int | None,
    visibility: Visibility | None,
    cursor: str | None,
    limit: int,
) -> AtRiskPageOut:
    """Return a page of the clocks at risk as of ``now`` among the conversations ``visibility`` (None:
    everything) sees, soonest due first, with how many there are: running clocks that have warned
    (``within_seconds``: due within that many seconds instead) or are overdue, and breached clocks, of
    conversations not closed. Raises ValidationFailed for a bad limit or cursor."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit")
    after = decode_time_cursor(cursor) if cursor is not None else None
    horizon = now + timedelta(seconds=within_seconds) if within_seconds is not None else None
    repo = SlaRepository(session, tenant_id)
    found: list[SlaClock] = []
    more = False
    # Clocks of conversations out of sight are passed over, reading on until the page is full.
    while True:
        batch = repo.at_risk_after(now=now, horizon=horizon, after=after, limit=limit + 1)
        if visibility is None:
            seen = {clock.conversation_id for clock in batch}
        else:
            ids = sorted({clock.conversation_id for clock in batch})
            seen = seen_conversation_ids(
                session, tenant_id=tenant_id, conversation_ids=ids, visibility=visibility
            )
        for clock in batch:
            if clock.conversation_id not in seen:
                continue
            if len(found) == limit:
                more = True
                break
            found.append(clock)
        if more or len(batch) <= limit:
            break
        last = batch[-1]
        assert last.due_at is not None
        after = (last.due_at, last.id)
    if visibility is None:
        total = repo.count_at_risk(now=now, horizon=horizon)
    else:
        ids = repo.at_risk_conversation_ids(now=now, horizon=horizon)
        seen = seen_conversation_ids(
            session, tenant_id=tenant_id, conversation_ids=sorted(set(ids)), visibility=visibility
        )
        total = sum(1 for conversation_id in ids if conversation_id in seen)
    last_found = found[-1] if more else None
    return AtRiskPageOut(
        data=[_at_risk_out(clock, now) for clock in found],
        next_cursor=(
            encode_time_cursor(last_found.due_at, last_found.id)
            if last_found is not None and last_found.due_at is not None
            else None
        ),
        total=total,
    )


def _at_risk_out(clock: SlaClock, now: datetime) -> AtRiskClockOut:
    assert clock.due_at is not None
    return AtRiskClockOut(
        conversation_id=clock.conversation_id,
        clock_id=clock.id,
        metric=clock.metric,
        state=BREACHED if clock.state == BREACHED or clock.due_at <= now else RUNNING,
        due_at=clock.due_at,
        business_seconds_left=business_time(clock).business_seconds_between(now, clock.due_at),
        warned_at=clock.warned_at,
    )
