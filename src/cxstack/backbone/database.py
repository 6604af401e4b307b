"""The database behind every unit of work, on either driver.

Embedded (SQLite): one writer thread owns the only write connection and commits in groups: it takes every
job waiting, runs each inside a savepoint of one transaction, commits once, then answers each caller. A job
that raises rolls back to its savepoint only; the others in its group still commit. Should the database end
the whole transaction under a job (SQLite does on a full disk or an I/O error), that job fails and the others
run again in a fresh transaction, so no caller is told of a commit that did not happen. Writes no caller
waits on (the bus's delivery and timer rounds, the effect runner's claims and outcomes) are marked
background: the writer commits the others of its group first and them after, once no caller's write is
waiting (or they have waited ``BACKGROUND_WAIT_S``), so a chat message is not held up by a round projecting
earlier ones. Reads run on a small thread pool of their own connections (WAL lets them proceed beside the
writer).

A write that many callers make at once (a message posted to a conversation) can be given as a batched
write: the writer hands every such job waiting next to each other in its group to one call, which does the
work of all of them in a few statements. Should that call raise, its savepoint rolls back and each job runs
again alone, so one caller's bad input never fails another's write.

Scale-out (PostgreSQL): each job runs in its own transaction on asyncpg through SQLAlchemy's greenlet
bridge, so services are the same synchronous code on both drivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from cxstack.backbone.catalog import EventCatalog
from cxstack.backbone.clock import Clock, SystemClock
from cxstack.backbone.envelope import Event
from cxstack.backbone.unit_of_work import Context, UnitOfWork

T = TypeVar("T")

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
#: When the WAL starts again, its file is cut back to this many bytes, so that a burst does not keep the disk.
WAL_SIZE_LIMIT = 64 * 1024 * 1024


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def normalise_url(url: str) -> str:
    """Return the SQLAlchemy URL for a cxstack database URL (``postgresql://`` means asyncpg)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


class _SQLiteDialect(SQLiteDialect_pysqlite):
    """pysqlite, with savepoints issued straight to the driver.

    SQLAlchemy compiles each SAVEPOINT statement afresh (every one names a new savepoint), and the group
    commit takes one per unit of work: compiling them was a third of the writer's time.
    """

    supports_statement_cache = True

    def do_savepoint(self, connection: Connection, name: str) -> None:
        _driver_connection(connection).execute(f"SAVEPOINT {name}")

    def do_release_savepoint(self, connection: Connection, name: str) -> None:
        _driver_connection(connection).execute(f"RELEASE SAVEPOINT {name}")

    def do_rollback_to_savepoint(self, connection: Connection, name: str) -> None:
        _driver_connection(connection).execute(f"ROLLBACK TO SAVEPOINT {name}")


registry.register("sqlite.cxstack", __name__, "_SQLiteDialect")


@dataclass
class _Job:
    fn: Callable[[UnitOfWork], Any]
    context: Context
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    #: Set for a batched write: the function that runs it with its neighbours, and its request.
    batched: BatchedWrite | None = None
    request: Any = None
    #: Work no caller is waiting on (a delivery round, a timer round): committed after the others.
    background: bool = False


@dataclass
class _Group:
    """Requests of one batched write waiting for a transaction on the scale-out driver."""

    requests: list[tuple[Context, Any, asyncio.Future[Any]]] = field(default_factory=list)
    running: bool = False
    task: asyncio.Task[None] | None = None


def _run_together(batched: BatchedWrite, calls: list[tuple[Context, Any]], uow: UnitOfWork) -> Sequence[Any]:
    """Run a group of requests of a batched write in one call; return each one's outcome."""
    results = batched(uow, calls)
    if len(results) != len(calls):
        raise RuntimeError(f"a batched write answered {len(results)} of {len(calls)} requests")
    return results


def _run_alone(batched: BatchedWrite, request: Any, uow: UnitOfWork) -> Any:
    """Run one request of a batched write by itself; raise what it failed with."""
    (outcome,) = batched(uow, [(uow.context, request)])
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


class Database:
    """Runs units of work and reads; calls commit listeners after a commit that appended events."""

    def __init__(
        self,
        url: str,
        *,
        catalog: EventCatalog,
        clock: Clock | None = None,
        partitions: int = 16,
    ) -> None:
        self.url = normalise_url(url)
        self.catalog = catalog
        self.clock: Clock = clock or SystemClock()
        self.partitions = partitions
        self.driver = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        self._listeners: list[Callable[[], None]] = []
        self._event_listeners: list[Callable[[list[Event]], None]] = []
        self._started = False
        # embedded driver
        self._engine: Engine | None = None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        self._stopping = threading.Event()
        self._restart_wal = threading.Event()
        self._readers: ThreadPoolExecutor | None = None
        # scale-out driver
        self._async_engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[Any] | None = None
        self._groups: dict[BatchedWrite, _Group] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        if self.driver == "sqlite":
            self._start_sqlite()
        else:
            self._async_engine = create_async_engine(
                self.url,
                json_serializer=_json_dumps,
                json_deserializer=orjson.loads,
                pool_size=10,
                max_overflow=10,
                pool_pre_ping=True,
            )
            self._sessions = async_sessionmaker(self._async_engine, expire_on_commit=False)
        self._started = True

    async def stop(self) -> None:
        """Commit the writes already queued, then close every connection; later writes raise."""
        if not self._started:
            return
        self._started = False
        if self.driver == "sqlite":
            # The writer finishes its queue first; only then does the checkpointer stop.
            self._jobs.put(None)
            if self._writer is not None:
                await asyncio.to_thread(self._writer.join)
            self._stopping.set()
            if self._checkpointer is not None:
                await asyncio.to_thread(self._checkpointer.join)
            if self._readers is not None:
                await asyncio.to_thread(self._readers.shutdown, True)
            if self._engine is not None:
                # Closing the last connection checkpoints the WAL into the database file and removes it.
                self._engine.dispose()
        elif self._async_engine is not None:
            await self._async_engine.dispose()

    def add_event_listener(self, listener: Callable[[list[Event]], None]) -> None:
        """Call ``listener`` on the event loop with the events of each commit that appended any, in commit
        order (the live feed: see ``cxstack.backbone.live``)."""
        self._event_listeners.append(listener)

    def remove_event_listener(self, listener: Callable[[list[Event]], None]) -> None:
        with contextlib.suppress(ValueError):
            self._event_listeners.remove(listener)

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` on the event loop after each commit that appended events."""
        self._listeners.append(listener)

    def remove_commit_listener(self, listener: Callable[[], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def _notify(self, events: list[Event] | None = None) -> None:
        for listener in list(self._listeners):
            listener()
        if events:
            for event_listener in list(self._event_listeners):
                event_listener(events)

    # -- the public contract ---------------------------------------------------------------------

    async def write(
        self, fn: Callable[[UnitOfWork], T], *, context: Context | None = None, background: bool = False
    ) -> T:
        """Run ``fn`` in a unit of work and commit it with its events; return what ``fn`` returned.

        Whatever ``fn`` raises is raised here, and nothing it did is committed. Raises RuntimeError when the
        database is not started. A ``background`` write (no person waits on it: a delivery round) is
        committed, on the embedded driver, after the other writes waiting beside it, in a transaction of
        its own, so that their callers are not kept waiting for it.
        """
        if not self._started:
            raise RuntimeError("the database is not started (Database.start() was not called, or it stopped)")
        context = context or Context()
        if self.driver == "sqlite":
            loop = asyncio.get_running_loop()
            future: asyncio.Future[T] = loop.create_future()
            self._jobs.put(_Job(fn, context, loop, future, background=background))
            return await future
        assert self._sessions is not None, "Database.start() was not called"
        async with self._sessions() as session, session.begin():
            uows: list[UnitOfWork] = []

            def run(sync_session: Session) -> T:
                uow = self._unit_of_work(sync_session, context)
                uows.append(uow)
                result = fn(uow)
                uow.flush_events()
                return result

            result: T = await session.run_sync(run)
        if uows and uows[0].appended:
            self._notify(uows[0].appended)
        return result

    async def write_batched(
        self, batched: BatchedWrite, request: Any, *, context: Context | None = None
    ) -> Any:
        """Run ``request`` through ``batched``, together with other callers' requests to the same function
        that wait beside it; return its result or raise its error, as ``write`` does.
        """
        context = context or Context()
        if not self._started:
            return await self.write(partial(_run_alone, batched, request), context=context)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self.driver == "sqlite":
            self._jobs.put(
                _Job(partial(_run_alone, batched, request), context, loop, future, batched, request)
            )
            return await future
        # PostgreSQL: the requests that arrive while the previous group's transaction runs go together in
        # the next one (group commit in this process; other processes commit their own groups).
        waiting = self._groups.setdefault(batched, _Group())
        waiting.requests.append((context, request, future))
        if not waiting.running:
            waiting.running = True
            waiting.task = loop.create_task(self._run_groups(batched, waiting))
        return await future

    async def _run_groups(self, batched: BatchedWrite, waiting: _Group) -> None:
        """Run the requests waiting for ``batched`` a group at a time, each group in one transaction."""
        try:
            while waiting.requests:
                group = waiting.requests[:WRITE_BATCH_LIMIT]
                del waiting.requests[: len(group)]
                group = [entry for entry in group if not entry[2].done()]  # callers that gave up
                if not group:
                    continue
                calls = [(context, request) for context, request, _ in group]
                try:
                    results = await self.write(partial(_run_together, batched, calls), context=group[0][0])
                except Exception:
                    # As on the embedded driver: each request again, alone, so that one cannot fail another.
                    alone = [
                        self.write(partial(_run_alone, batched, request), context=context)
                        for context, request, _ in group
                    ]
                    results = await asyncio.gather(*alone, return_exceptions=True)
                for (_, _, future), result in zip(group, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        except BaseException as error:
            for _, _, future in waiting.requests:
                if not future.done():
                    future.set_exception(error)
            waiting.requests.clear()
            raise
        finally:
            waiting.running = False

    async def read(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` with a read-only session and return its result."""
        if self.driver == "sqlite":
            assert self._readers is not None and self._engine is not None, "Database.start() was not called"
            engine = self._engine

            def run() -> T:
                with Session(engine, expire_on_commit=False) as session:
                    return fn(session)

            return await asyncio.get_running_loop().run_in_executor(self._readers, run)
        assert self._sessions is not None, "Database.start() was not called"
        async with self._sessions() as session:
            return await session.run_sync(fn)  # type: ignore[no-any-return]

    async def run_sync_connection(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn`` with a plain SQLAlchemy connection in its own transaction (migrations, admin)."""
        if self.driver == "sqlite":
            assert self._engine is not None
            engine = self._engine

            def run() -> T:
                with engine.begin() as connection:
                    return fn(connection)

            return await asyncio.to_thread(run)
        assert self._async_engine is not None
        async with self._async_engine.begin() as connection:
            return await connection.run_sync(fn)

    def _unit_of_work(
        self, session: Session, context: Context, connection: Connection | None = None
    ) -> UnitOfWork:
        return UnitOfWork(
            session,
            catalog=self.catalog,
            clock=self.clock,
            context=context,
            partitions=self.partitions,
            connection=connection,
        )

    # -- embedded driver -------------------------------------------------------------------------

    def _start_sqlite(self) -> None:
        url = make_url(self.url)
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url.set(drivername="sqlite+cxstack"),
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            pool_size=8,
            max_overflow=8,
            connect_args={"check_same_thread": False, "timeout": 30},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy issue BEGIN itself so that SAVEPOINTs work (pysqlite's own handling
            # would commit around them).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "busy_timeout=30000",
                "temp_store=MEMORY",
                "cache_size=-65536",
                "foreign_keys=ON",
                f"journal_size_limit={WAL_SIZE_LIMIT}",
            ):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.info.get("writer") else "BEGIN")

        self._engine = engine
        self._stopping.clear()
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cxstack-read")
        self._writer = threading.Thread(target=self._write_loop, name="cxstack-writer", daemon=True)
        self._writer.start()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="cxstack-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _write_loop(self) -> None:
        assert self._engine is not None
        with self._engine.connect() as connection:
            connection.info["writer"] = True
            # Checkpoints happen on their own thread, so a commit never waits for one.
            _driver_connection(connection).execute("PRAGMA wal_autocheckpoint=0")
            deferred: list[_Job] = []  # background jobs waiting for a moment with no caller's write
            deferred_since = 0.0
            stopping = False
            while not stopping or deferred:
                batch: list[_Job] = []
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
                        _driver_connection(connection).execute("PRAGMA wal_checkpoint(PASSIVE)")
        stopped = RuntimeError("the database stopped before this write ran")
        while True:
            try:
                left = self._jobs.get_nowait()
            except queue.Empty:
                return
            if left is not None:
                _answer([(left, False, stopped)])

    def _take_jobs(self, *, wait: bool) -> tuple[list[_Job], bool]:
        """Return the jobs waiting (up to ``WRITE_BATCH_LIMIT``; with ``wait``, at least one, waiting for
        it) and whether the database is stopping (no job comes after those)."""
        batch: list[_Job] = []
        while len(batch) < WRITE_BATCH_LIMIT:
            try:
                job = self._jobs.get() if wait and not batch else self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False

    def _commit_safely(self, connection: Any, batch: list[_Job]) -> None:
        try:
            self._commit_batch(connection, batch)
        except BaseException as error:  # the writer must outlive anything a batch does
            _answer([(job, False, error) for job in batch])

    def _commit_batch(self, connection: Any, batch: list[_Job]) -> None:
        """Commit ``batch`` and answer each caller; run again the jobs of a transaction the database ended."""
        pending = batch
        while pending:
            pending = self._try_batch(connection, pending)

    def _try_batch(self, connection: Any, batch: list[_Job]) -> list[_Job]:
        """Run ``batch`` in one transaction, a savepoint per job (or per group of batched jobs); return the
        jobs to run again, if any."""
        raw = _driver_connection(connection)
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
        self, session: Session, connection: Any, group: list[_Job]
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
        assert self._engine is not None
        with self._engine.connect() as connection:
            raw = _driver_connection(connection)
            while not self._stopping.wait(CHECKPOINT_INTERVAL_S):
                with contextlib.suppress(Exception):
                    _busy, frames, _copied = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if frames > WAL_RESTART_FRAMES:
                        self._restart_wal.set()


class TransactionLost(RuntimeError):
    """The database rolled back the transaction a write ran in (a full disk, an I/O error)."""


def _alone(jobs: list[_Job]) -> list[_Job]:
    """The same jobs, each to run by itself."""
    return [replace(job, batched=None) for job in jobs]


def _driver_connection(connection: Any) -> Any:
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


def _answer(outcomes: list[tuple[_Job, bool, Any]]) -> None:
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
