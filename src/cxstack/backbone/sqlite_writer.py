"""The embedded driver's writer: one thread owns SQLite's only write connection and commits in groups.

It takes every job waiting, runs each inside a savepoint of one transaction, commits once, then answers
each caller. A job that raises rolls back to its savepoint only; the others in its group still commit.
Should the database end the whole transaction under a job (SQLite does on a full disk or an I/O error),
that job fails and the others run again in a fresh transaction, so no caller is told of a commit that did
not happen. The jobs of one batched write waiting next to each other are handed to one call in one
savepoint; should that call raise, each runs again alone.

Writes no caller waits on (the bus's delivery and timer rounds, the effect runner's claims and outcomes)
are marked background: the writer commits the others of its group first and them after, once no caller's
write is waiting (or they have waited ``BACKGROUND_WAIT_S``), so a chat message is not held up by a round
projecting earlier ones. A second thread checkpoints the WAL so that a commit never waits for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from cxstack.backbone.envelope import Event
from cxstack.backbone.unit_of_work import Context, UnitOfWork

#: Runs many callers' writes in one call: each ``(context, request)`` in, in order, gets a result or the
#: exception it failed with (having written nothing). Raising instead fails the call as a whole: each request
#: then runs alone.
BatchedWrite = Callable[[UnitOfWork, Sequence[tuple[Context, Any]]], Sequence[Any]]

WRITE_BATCH_LIMIT = 512
CHECKPOINT_INTERVAL_S = 0.5
#: How long background writes (delivery, timer and effect rounds) wait at most for a moment when no
#: caller's write is waiting.
BACKGROUND_WAIT_S = 0.05
#: A WAL holding more frames than this (4 KiB pages) is started again from its beginning: see
#: ``_checkpoint_loop``.
WAL_RESTART_FRAMES = 4096


@dataclass
class Job:
    """One write waiting for the writer: its function, its caller's context, and the caller's future."""

    fn: Callable[[UnitOfWork], Any]
    context: Context
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    #: Set for a batched write: the function that runs it with its neighbours, and its request.
    batched: BatchedWrite | None = None
    request: Any = None
    #: Work no caller is waiting on (a delivery round, a timer round): committed after the others.
    background: bool = False


class SqliteWriter:
    """The embedded driver's only writer: a thread that commits the jobs submitted to it in groups, and a
    thread that checkpoints the WAL beside it."""

    def __init__(
        self,
        engine: Engine,
        *,
        unit_of_work: Callable[[Session, Context, Connection | None], UnitOfWork],
        notify: Callable[[list[Event]], None],
    ) -> None:
        """``unit_of_work`` makes each job's unit of work; ``notify`` is called on the first job's event loop
        with the events of each commit that appended any, before the callers are answered."""
        self.engine = engine
        self._unit_of_work = unit_of_work
        self._notify = notify
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._restart_wal = threading.Event()
        self._writer = threading.Thread(target=self._write_loop, name="cxstack-writer", daemon=True)
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="cxstack-checkpoint", daemon=True
        )

    def start(self) -> None:
        self._writer.start()
        self._checkpointer.start()

    def submit(self, job: Job) -> None:
        """Queue ``job``; its future is settled on its loop once it is committed or has failed."""
        self._jobs.put(job)

    async def stop(self) -> None:
        """Commit the jobs already queued, then stop both threads; jobs submitted later fail."""
        self._jobs.put(None)
        await asyncio.to_thread(self._writer.join)
        self._stopping.set()
        await asyncio.to_thread(self._checkpointer.join)

    def _write_loop(self) -> None:
        assert self.engine is not None
        with self.engine.connect() as connection:
            connection.info["writer"] = True
            # Checkpoints happen on their own thread, so a commit never waits for one.
            driver_connection(connection).execute("PRAGMA wal_autocheckpoint=0")
            deferred: list[Job] = []  # background jobs waiting for a moment with no caller's write
            deferred_since = 0.0
            stopping = False
            while not stopping or deferred:
                batch: list[Job] = []
                if not stopping:
                    batch, stopping = self._take_jobs(wait=not deferred)
                foreground = [job for job in batch if not job.background]
                background = [job for job in batch if job.background]
                if background and not deferred:
                    deferred_since = time.monotonic()
                deferred.extend(background)
                if foreground:
                    self._commit_safely(connection, foreground)
                # Background rounds wait while callers' writes keep coming, up to BACKGROUND_WAIT_S.
                if deferred and (
                    stopping or self._jobs.empty() or time.monotonic() - deferred_since >= BACKGROUND_WAIT_S
                ):
                    self._commit_safely(connection, deferred)
                    deferred = []
                if self._restart_wal.is_set():
                    self._restart_wal.clear()
                    # Copies what was committed since the checkpointer's pass; the WAL is then wholly in the
                    # database file, and the next commit writes from its start (see ``_checkpoint_loop``).
                    with contextlib.suppress(Exception):
                        driver_connection(connection).execute("PRAGMA wal_checkpoint(PASSIVE)")
        stopped = RuntimeError("the database stopped before this write ran")
        while True:
            try:
                left = self._jobs.get_nowait()
            except queue.Empty:
                return
            if left is not None:
                _answer([(left, False, stopped)])

    def _take_jobs(self, *, wait: bool) -> tuple[list[Job], bool]:
        """Return the jobs waiting (up to ``WRITE_BATCH_LIMIT``; with ``wait``, at least one, waiting for
        it) and whether the database is stopping (no job comes after those)."""
        batch: list[Job] = []
        while len(batch) < WRITE_BATCH_LIMIT:
            try:
                job = self._jobs.get() if wait and not batch else self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False

    def _commit_safely(self, connection: Any, batch: list[Job]) -> None:
        try:
            self._commit_batch(connection, batch)
        except BaseException as error:  # the writer must outlive anything a batch does
            _answer([(job, False, error) for job in batch])

    def _commit_batch(self, connection: Any, batch: list[Job]) -> None:
        """Commit ``batch`` and answer each caller; run again the jobs of a transaction the database ended."""
        pending = batch
        while pending:
            pending = self._try_batch(connection, pending)

    def _try_batch(self, connection: Any, batch: list[Job]) -> list[Job]:
        """Run ``batch`` in one transaction, a savepoint per job (or per group of batched jobs); return the
        jobs to run again, if any."""
        raw = driver_connection(connection)
        outcomes: list[tuple[bool, Any]] = []
        appended: list[Event] = []
        session = Session(bind=connection, expire_on_commit=False, join_transaction_mode="rollback_only")
        try:
            transaction = connection.begin()
            index = 0
            while index < len(batch):
                job = batch[index]
                end = index + 1
                if job.batched is not None:
                    while end < len(batch) and batch[end].batched is job.batched:
                        end += 1
                if end - index > 1:
                    group = batch[index:end]
                    grouped = self._run_group(session, connection, group)
                    if not raw.in_transaction:
                        # As below; which job ended it is found when each runs alone.
                        transaction.rollback()
                        return batch[:index] + _alone(group) + batch[end:]
                    if grouped is None:
                        batch = batch[:index] + _alone(group) + batch[end:]
                        continue
                    group_outcomes, group_appended = grouped
                    outcomes.extend(group_outcomes)
                    appended.extend(group_appended)
                    index = end
                    continue
                uow = self._unit_of_work(session, job.context, connection)
                raised: BaseException | None = None
                try:
                    with session.begin_nested():
                        try:
                            result = job.fn(uow)
                            uow.flush_events()
                        except BaseException as error:
                            raised = error
                            raise
                except BaseException as error:
                    # The job's own error, not a failure to roll back to its savepoint that followed it.
                    outcome: tuple[bool, Any] = (False, raised or error)
                else:
                    outcome = (True, result)
                    appended.extend(uow.appended)
                if not raw.in_transaction:
                    # The database rolled the whole transaction back under this job: it fails, and every
                    # other job of the batch, done or not, runs again in a new transaction.
                    transaction.rollback()
                    if outcome[0]:
                        outcome = (False, TransactionLost("the database rolled back this transaction"))
                    else:
                        # What ended it (a full disk), not the failed rollback to the savepoint after it.
                        outcome = (False, _first_error(outcome[1]))
                    _answer([(job, *outcome)])
                    return batch[:index] + batch[index + 1 :]
                outcomes.append(outcome)
                index += 1
            session.flush()
            transaction.commit()
        except Exception as error:
            outcomes = [(False, error)] * len(batch)
            appended = []
            if connection.in_transaction():
                with contextlib.suppress(Exception):
                    connection.rollback()
        finally:
            session.close()
        if appended:
            # Before the answers: a caller whose write returned finds its events in the live feed.
            with contextlib.suppress(RuntimeError):
                batch[0].loop.call_soon_threadsafe(self._notify, appended)
        _answer([(job, ok, value) for job, (ok, value) in zip(batch, outcomes, strict=True)])
        return []

    def _run_group(
        self, session: Session, connection: Any, group: list[Job]
    ) -> tuple[list[tuple[bool, Any]], list[Event]] | None:
        """Run a group of one batched write's jobs in one savepoint; return each job's outcome and the
        events appended, or None when the call raised (its savepoint rolled back)."""
        batched = group[0].batched
        assert batched is not None
        uow = self._unit_of_work(session, group[0].context, connection)
        try:
            with session.begin_nested():
                results = batched(uow, [(job.context, job.request) for job in group])
                if len(results) != len(group):
                    raise RuntimeError(f"a batched write answered {len(results)} of {len(group)} requests")
                uow.flush_events()
        except Exception:
            return None
        outcomes = [(not isinstance(result, BaseException), result) for result in results]
        return outcomes, uow.appended

    def _checkpoint_loop(self) -> None:
        """Copy the WAL into the database file every ``CHECKPOINT_INTERVAL_S``, beside the writer.

        SQLite writes the WAL from its start again only when a write begins just after a checkpoint that
        copied all of it. Under steady writes that never happens on its own (each commit lands while this
        thread copies), and the file grows by every page ever written. So once it holds more than
        ``WAL_RESTART_FRAMES``, the writer is asked to checkpoint between two of its transactions: that
        copies only the little committed since this pass, and its next commit starts the WAL again.
        """
        # No checkpoint at shutdown: closing the last connection does one. (A TRUNCATE checkpoint run on a
        # connection that was first to open a new, empty database waits on itself for the busy timeout.)
        assert self.engine is not None
        with self.engine.connect() as connection:
            raw = driver_connection(connection)
            while not self._stopping.wait(CHECKPOINT_INTERVAL_S):
                with contextlib.suppress(Exception):
                    _busy, frames, _copied = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if frames > WAL_RESTART_FRAMES:
                        self._restart_wal.set()


class TransactionLost(RuntimeError):
    """The database rolled back the transaction a write ran in (a full disk, an I/O error)."""


def _alone(jobs: list[Job]) -> list[Job]:
    """The same jobs, each to run by itself."""
    return [replace(job, batched=None) for job in jobs]


def driver_connection(connection: Any) -> Any:
    """Return the sqlite3 connection under a SQLAlchemy one, for statements outside any transaction."""
    return connection.connection.dbapi_connection


def _first_error(error: BaseException) -> BaseException:
    """Return the error that the chain of errors raised while handling ``error`` started with.

    A driver's error that a SQLAlchemy error wraps (its ``__cause__``) is not the start; the wrapper is.
    """
    chain = [error]
    while chain[-1].__context__ is not None and len(chain) < 50:
        chain.append(chain[-1].__context__)
    for outer, inner in zip(reversed(chain[:-1]), reversed(chain[1:]), strict=True):
        if outer.__cause__ is not inner:
            return inner
    return error


def _answer(outcomes: list[tuple[Job, bool, Any]]) -> None:
    """Settle each job's future on its caller's loop, one wake-up of each loop for all of them; a caller
    whose loop has closed waits for nothing."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
    for job, ok, value in outcomes:
        by_loop.setdefault(job.loop, []).append((job.future, ok, value))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in settled:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
