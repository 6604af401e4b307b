"""Effects: durable jobs that act on the outside world after the transaction that wanted them commits.

A service that needs to call out (send an SMS through a provider's REST API) does not call inside its unit
of work, where a slow provider would hold the transaction open (on SQLite, every write of the process). It
enqueues an effect instead (``enqueue_effect``): a row written in the same transaction as the change that
wants it, so an effect exists exactly when that change committed (a transactional outbox), and a second
enqueue of the same ``kind`` and ``key`` is a no-op.

An effect runner (``cxstack.backbone.effect_runner``) runs wherever event handlers run. It claims due
effects in a short write transaction (on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so any number of
workers share them), runs each kind's performer outside any transaction, and records the outcome in another
short transaction, together with the follow-up writes of the kind's callbacks:

- the performer returns a result: ``done``, and ``on_done(uow, job, result)`` records it;
- it raises ``EffectFailed``: ``failed`` for good, and ``on_failed(uow, job, failure)`` records why;
- it raises anything else (or overruns its time): retried with exponential backoff; after the kind's last
  attempt ``dead``, and ``on_failed`` is told with ``failure.gave_up`` set. Dead effects can be listed and
  retried (``cxstack effects``).
- it raises ``RetryLater`` (a provider's ``429`` or ``503`` with ``Retry-After``): retried the same way, but
  not before the wait the provider asked for (at most ``MAX_RETRY_AFTER_S``).

Each kind has its own limit on how many of its effects a runner performs at once (``concurrency``,
``DEFAULT_CONCURRENCY`` unless registered otherwise or set by ``limit_concurrency``), so a slow outside
service (an SMTP relay that takes seconds) holds up only its own kind's effects, never another kind's.

A claim lasts ``lease_s``: should the process die between claim and outcome, the effect is due again when
the claim ends. Effects therefore run at least once; a performer whose outside call is not idempotent
sends twice only when a process dies between the call and the commit of its outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

import orjson
import structlog
from sqlalchemy import Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cxstack.backbone.delivery import RetryPolicy
from cxstack.backbone.models import EffectRecord
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.kit.errors import Conflict, NotFound, ValidationFailed
from cxstack.kit.ids import new_id

log = structlog.get_logger("cxstack.effects")

T = TypeVar("T")

STATUSES = ("pending", "running", "done", "failed", "dead")
#: How many effects of one kind a runner performs at once, for a kind registered without its own limit.
DEFAULT_CONCURRENCY = 32
_DUE = ("pending", "running")
_effects = cast(Table, EffectRecord.__table__)


@dataclass(frozen=True, slots=True)
class EffectJob:
    """One attempt at an effect, as its performer and callbacks see it."""

    id: str
    tenant_id: str
    kind: str
    key: str
    payload: dict[str, Any]
    #: This attempt's number, from 1.
    attempt: int
    correlation_id: str


class EffectFailed(Exception):
    """Raised by a performer when the outside world refused for good (a 4xx answer): not retried.

    ``code`` is the provider's error code, if any; ``details`` is kept for the kind's ``on_failed``.
    ``gave_up`` is set on the failure given to ``on_failed`` when the attempts ran out instead. What the
    provider said is stored and published, so U+0000 in it (which PostgreSQL stores in no text) is written
    as ``\\x00``.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        gave_up: bool = False,
    ) -> None:
        message = message.replace("\x00", "\\x00")
        super().__init__(message)
        self.message = message
        self.code = code if code is None else code.replace("\x00", "\\x00")
        self.details = details or {}
        self.gave_up = gave_up


#: The longest wait a provider's ``Retry-After`` may impose on an effect's next attempt.
MAX_RETRY_AFTER_S = 3600.0


class RetryLater(Exception):
    """Raised by a performer when the outside world asked to be tried again after a while (a ``429`` or
    ``503`` with ``Retry-After``): retried like any temporary failure, not before ``retry_after_s``
    (None: the backoff's own delay)."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Reader(Protocol):
    """Runs a read on the database (``Database.read``)."""

    def __call__(self, fn: Callable[[Session], T]) -> Awaitable[T]: ...


#: Does the outside work of one attempt, outside any transaction; returns a JSON-ready result. Raises
#: EffectFailed for a refusal for good; anything else is retried.
Perform = Callable[[EffectJob, Reader], Awaitable[dict[str, Any]]]
#: Records a success, in the transaction that marks the effect done (its events are published with it).
OnDone = Callable[[UnitOfWork, EffectJob, dict[str, Any]], None]
#: Records a failure for good or a last attempt, in the transaction that marks the effect failed or dead.
OnFailed = Callable[[UnitOfWork, EffectJob, EffectFailed], None]
#: Lets go of what a performer keeps between effects (connections to a provider), when the process stops.
Close = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class EffectKind:
    kind: str
    perform: Perform
    on_done: OnDone | None = None
    on_failed: OnFailed | None = None
    #: Overrides the runner's retry policy's attempts for this kind.
    max_attempts: int | None = None
    description: str = ""
    #: The most effects of this kind one runner performs at once (other kinds have their own).
    concurrency: int = DEFAULT_CONCURRENCY
    close: Close | None = None


class EffectRegistry:
    """Every effect kind this process can perform, registered explicitly by each layer's ``handlers.py``."""

    def __init__(self) -> None:
        self._kinds: dict[str, EffectKind] = {}

    def add(
        self,
        kind: str,
        perform: Perform,
        *,
        on_done: OnDone | None = None,
        on_failed: OnFailed | None = None,
        max_attempts: int | None = None,
        description: str = "",
        concurrency: int = DEFAULT_CONCURRENCY,
        close: Close | None = None,
    ) -> EffectKind:
        """Register the performer of ``kind``, at most ``concurrency`` of its effects in flight in a runner,
        and what ``aclose`` calls to let go of its connections; raises ValueError on a duplicate kind, or a
        max_attempts or concurrency below 1."""
        if kind in self._kinds:
            raise ValueError(f"effect kind {kind!r} is registered twice")
        if max_attempts is not None and max_attempts < 1:
            raise ValueError(f"effect kind {kind!r}: max_attempts must be at least 1")
        _check_concurrency(kind, concurrency)
        registered = EffectKind(
            kind, perform, on_done, on_failed, max_attempts, description, concurrency, close
        )
        self._kinds[kind] = registered
        return registered

    def limit_concurrency(self, limits: Mapping[str, int]) -> None:
        """Set the in-flight limit of each kind named in ``limits`` ({kind: limit}, from settings); raises
        ValueError, changing nothing, for a kind not registered or a limit below 1."""
        unknown = sorted(set(limits) - set(self._kinds))
        if unknown:
            raise ValueError(
                f"cannot limit effect kind {', '.join(map(repr, unknown))}: not registered; the kinds "
                f"are {', '.join(sorted(self._kinds)) or '(none)'}"
            )
        for kind, limit in limits.items():
            _check_concurrency(kind, limit)
        for kind, limit in limits.items():
            self._kinds[kind] = replace(self._kinds[kind], concurrency=limit)

    def get(self, kind: str) -> EffectKind | None:
        return self._kinds.get(kind)

    async def aclose(self) -> None:
        """Call each kind's ``close`` (once where kinds share one), after the runners have stopped; a close
        that fails is logged and the others still run. A performer used afterwards opens new connections."""
        closes: list[Close] = []
        for kind in self._kinds.values():
            if kind.close is not None and kind.close not in closes:
                closes.append(kind.close)
        for close in closes:
            try:
                await close()
            except Exception as error:
                log.warning("effect_close_failed", error=repr(error))

    def __iter__(self) -> Iterator[EffectKind]:
        return iter(self._kinds.values())

    def __len__(self) -> int:
        return len(self._kinds)


def _check_concurrency(kind: str, concurrency: int) -> None:
    if concurrency < 1:
        raise ValueError(f"effect kind {kind!r}: concurrency must be at least 1, got {concurrency}")


# -- enqueueing ------------------------------------------------------------------------------------


def enqueue_effect(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    kind: str,
    key: str,
    payload: dict[str, Any],
    delay: timedelta | None = None,
) -> bool:
    """Queue the effect ``kind``/``key`` to run once this unit of work commits; return whether it is new.

    An effect with the same kind and key, queued before, is left as it is (False). Raises ValidationFailed
    for a payload that is not JSON. Nothing runs if the transaction rolls back.
    """
    if not kind or len(kind) > 80:
        raise ValidationFailed("an effect kind is 1 to 80 characters", field="kind")
    if not key or len(key) > 200:
        raise ValidationFailed("an effect key is 1 to 200 characters", field="key")
    try:
        orjson.dumps(payload)
    except TypeError as error:
        raise ValidationFailed(f"the effect's payload is not JSON: {error}", field="payload") from None
    now = uow.clock.now()
    values = {
        "id": new_id("eff"),
        "tenant_id": tenant_id,
        "kind": kind,
        "key": key,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now + delay if delay else now,
        "claimed_by": None,
        "claimed_until": None,
        "last_error": "",
        "result": None,
        "correlation_id": uow.context.correlation_id,
        "created_at": now,
        "updated_at": now,
    }
    connection = uow.session.connection()
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = insert(_effects).values(values).on_conflict_do_nothing(index_elements=["kind", "key"])
    result = connection.execute(statement)
    return bool(getattr(result, "rowcount", 0))


# -- claiming and recording outcomes ---------------------------------------------------------------


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _job(row: EffectRecord) -> EffectJob:
    return EffectJob(
        id=row.id,
        tenant_id=row.tenant_id,
        kind=row.kind,
        key=row.key,
        payload=dict(row.payload),
        attempt=row.attempts,
        correlation_id=row.correlation_id,
    )


def _context(job: EffectJob) -> Context:
    return Context(correlation_id=job.correlation_id, causation_id=job.id, actor=f"effect:{job.kind}")


def has_due_effects(session: Session, *, now: datetime, kinds: Sequence[str]) -> bool:
    """Return whether an effect of one of ``kinds`` is due (pending and due, or its claim ended)."""
    found = session.execute(
        select(_effects.c.id)
        .where(
            _effects.c.status.in_(_DUE), _effects.c.next_attempt_at <= now, _effects.c.kind.in_(list(kinds))
        )
        .limit(1)
    ).first()
    return found is not None


def claim_due_effects(
    uow: UnitOfWork,
    *,
    registry: EffectRegistry,
    policy: RetryPolicy,
    runner_id: str,
    lease_s: float,
    limits: Mapping[str, int],
) -> list[EffectJob]:
    """Claim due effects for ``runner_id`` until ``lease_s`` from now, at most ``limits[kind]`` of each kind
    named (oldest due first); return the attempts to perform. An effect whose last claim ended with its
    attempts used up goes ``dead`` instead; kinds not named, or that this process does not know, are left
    for a runner with room for them."""
    now = uow.clock.now()
    claimed: list[EffectJob] = []
    until = now + timedelta(seconds=lease_s)
    for name, limit in limits.items():
        kind = registry.get(name)
        if kind is None or limit < 1:
            continue
        # One query per kind: one kind's backlog cannot fill the claim and leave another's waiting.
        query = (
            select(EffectRecord)
            .where(
                EffectRecord.kind == name,
                EffectRecord.status.in_(_DUE),
                EffectRecord.next_attempt_at <= now,
            )
            .order_by(EffectRecord.next_attempt_at)
            .limit(limit)
        )
        if _is_postgres(uow.session):
            query = query.with_for_update(skip_locked=True)
        attempts = kind.max_attempts or policy.max_attempts
        for row in uow.session.scalars(query).all():
            if row.status == "running" and row.attempts >= attempts:
                # Its last attempt's process died before recording an outcome.
                row.last_error = "the last attempt's claim ended without an outcome (its process stopped?)"
                _give_up(uow, kind, row, now=now)
                continue
            row.status = "running"
            row.attempts += 1
            row.claimed_by = runner_id
            row.claimed_until = until
            row.next_attempt_at = until
            row.updated_at = now
            claimed.append(_job(row))
    uow.session.flush()
    return claimed


def _held(uow: UnitOfWork, job: EffectJob, runner_id: str) -> EffectRecord | None:
    """Return the effect's row if ``runner_id`` still holds this attempt's claim."""
    query = select(EffectRecord).where(EffectRecord.id == job.id)
    if _is_postgres(uow.session):
        query = query.with_for_update()
    row = uow.session.scalar(query)
    if row is None or row.status != "running" or row.claimed_by != runner_id or row.attempts != job.attempt:
        return None
    return row


def _settle(row: EffectRecord, status: str, *, now: datetime) -> None:
    row.status = status
    row.claimed_by = None
    row.claimed_until = None
    row.updated_at = now


def _give_up(uow: UnitOfWork, kind: EffectKind, row: EffectRecord, *, now: datetime) -> None:
    _settle(row, "dead", now=now)
    if kind.on_failed is not None:
        job = _job(row)
        failure = EffectFailed(
            f"gave up after {row.attempts} attempts: {row.last_error}", gave_up=True, code=None
        )
        try:
            with uow.session.begin_nested():
                kind.on_failed(uow.acting_for(_context(job)), job, failure)
        except Exception:
            log.exception("recording a dead effect failed", kind=row.kind, effect_id=row.id)


def record_success(
    uow: UnitOfWork, *, kind: EffectKind, job: EffectJob, runner_id: str, result: dict[str, Any]
) -> bool:
    """Mark the attempt done with ``result`` and run the kind's ``on_done``; return False (changing
    nothing) when the claim was lost to another runner meanwhile."""
    row = _held(uow, job, runner_id)
    if row is None:
        return False
    _settle(row, "done", now=uow.clock.now())
    row.result = result
    row.last_error = ""
    if kind.on_done is not None:
        kind.on_done(uow.acting_for(_context(job)), job, result)
    return True


def record_failure(
    uow: UnitOfWork,
    *,
    kind: EffectKind,
    job: EffectJob,
    runner_id: str,
    error: BaseException,
    policy: RetryPolicy,
) -> str | None:
    """Record a failed attempt: ``failed`` for an EffectFailed, else a retry after the policy's delay (or
    a RetryLater's longer wait), or ``dead`` after the last attempt (both telling ``on_failed``); return
    the new status, or None when the claim was lost meanwhile."""
    row = _held(uow, job, runner_id)
    if row is None:
        return None
    now = uow.clock.now()
    row.last_error = _describe(error)
    if isinstance(error, EffectFailed):
        _settle(row, "failed", now=now)
        if kind.on_failed is not None:
            kind.on_failed(uow.acting_for(_context(job)), job, error)
        return "failed"
    if row.attempts >= (kind.max_attempts or policy.max_attempts):
        _give_up(uow, kind, row, now=now)
        return "dead"
    _settle(row, "pending", now=now)
    row.next_attempt_at = now + _retry_delay(error, policy, attempts=row.attempts)
    return "pending"


def _retry_delay(error: BaseException, policy: RetryPolicy, *, attempts: int) -> timedelta:
    """The backoff's delay, or the provider's ``Retry-After`` (capped) when that is longer."""
    delay = policy.delay_after(attempts)
    if isinstance(error, RetryLater) and error.retry_after_s is not None:
        asked = timedelta(seconds=min(max(error.retry_after_s, 0.0), MAX_RETRY_AFTER_S))
        delay = max(delay, asked)
    return delay


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, EffectFailed) and error.code:
        text = f"{text} (code {error.code})"
    return text[:2000].replace("\x00", "\\x00")  # PostgreSQL stores no U+0000 in text


# -- inspecting and retrying -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EffectOut:
    id: str
    tenant_id: str
    kind: str
    key: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str
    result: dict[str, Any] | None
    payload: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def _out(row: EffectRecord) -> EffectOut:
    return EffectOut(
        id=row.id,
        tenant_id=row.tenant_id,
        kind=row.kind,
        key=row.key,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        result=row.result,
        payload=dict(row.payload),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def list_effects(
    session: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    tenant_id: str | None = None,
    limit: int = 100,
) -> list[EffectOut]:
    """Return effects, newest first, filtered by status, kind and tenant; raises ValidationFailed for an
    unknown status."""
    if status is not None and status not in STATUSES:
        raise ValidationFailed(f"status {status!r} is not one of {', '.join(STATUSES)}", field="status")
    query = select(EffectRecord).order_by(EffectRecord.created_at.desc(), EffectRecord.id.desc())
    if status is not None:
        query = query.where(EffectRecord.status == status)
    if kind is not None:
        query = query.where(EffectRecord.kind == kind)
    if tenant_id is not None:
        query = query.where(EffectRecord.tenant_id == tenant_id)
    return [_out(row) for row in session.scalars(query.limit(limit))]


def count_effects(session: Session) -> dict[str, int]:
    """Return how many effects are in each status."""
    rows = session.execute(select(_effects.c.status, func.count()).group_by(_effects.c.status))
    return {status: count for status, count in rows}


def retry_effect(uow: UnitOfWork, *, effect_id: str) -> EffectOut:
    """Make a dead or failed effect due now, with its attempts counted afresh; raises NotFound, Conflict
    (for an effect that is not dead or failed)."""
    row = uow.session.get(EffectRecord, effect_id)
    if row is None:
        raise NotFound(f"effect {effect_id} does not exist", field="effect_id")
    if row.status not in ("dead", "failed"):
        raise Conflict(f"effect {effect_id} is {row.status}; only dead or failed effects are retried")
    now = uow.clock.now()
    row.status, row.attempts, row.next_attempt_at, row.updated_at = "pending", 0, now, now
    row.claimed_by = row.claimed_until = None
    uow.session.flush()
    return _out(row)
