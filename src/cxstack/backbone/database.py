"""The database behind every unit of work, on either driver.

Embedded (SQLite): one writer thread owns the only write connection and commits in groups (see
``cxstack.backbone.sqlite_writer``: savepoints per job, batched writes, background writes after callers',
checkpoints). Reads run on a small thread pool of their own connections (WAL lets them proceed beside the
writer).

A write that many callers make at once (a message posted to a conversation) can be given as a batched
write (``BatchedWrite``): every such job waiting together is handed to one call, which does the work of all
of them in a few statements. Should that call raise, each job runs again alone, so one caller's bad input
never fails another's write.

Scale-out (PostgreSQL): each job runs in its own transaction on asyncpg through SQLAlchemy's greenlet
bridge, so services are the same synchronous code on both drivers; the requests of a batched write that
arrive while the previous group's transaction runs go together in the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from cxstack.backbone.catalog import EventCatalog
from cxstack.backbone.envelope import Event
from cxstack.backbone.prepared import ConnectionRows, Rows, SqliteRows
from cxstack.backbone.sqlite_writer import (
    WRITE_BATCH_LIMIT,
    BatchedWrite,
    Job,
    SqliteWriter,
    driver_connection,
)
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.kit.clock import Clock, SystemClock

T = TypeVar("T")

#: When the WAL starts again (see ``cxstack.backbone.sqlite_writer``), its file is cut back to this many
#: bytes, so that a burst does not keep the disk.
WAL_SIZE_LIMIT = 64 * 1024 * 1024

#: ``PRAGMA synchronous`` of the embedded driver (see ``Settings.sqlite_synchronous``).
SqliteSynchronous = Literal["FULL", "NORMAL"]


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
        driver_connection(connection).execute(f"SAVEPOINT {name}")

    def do_release_savepoint(self, connection: Connection, name: str) -> None:
        driver_connection(connection).execute(f"RELEASE SAVEPOINT {name}")

    def do_rollback_to_savepoint(self, connection: Connection, name: str) -> None:
        driver_connection(connection).execute(f"ROLLBACK TO SAVEPOINT {name}")


registry.register("sqlite.cxstack", __name__, "_SQLiteDialect")


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


#: How many times a PostgreSQL write runs when the server chose it as a deadlock's victim or refused it for
#: a serialization failure: both roll the transaction back whole, and running it again is the remedy
#: PostgreSQL documents (two transactions that lock the same rows in another order, say routing's
#: version row and an agent's).
PG_WRITE_ATTEMPTS = 3
#: SQLSTATEs of a transaction PostgreSQL rolled back because of another one: deadlock_detected,
#: serialization_failure.
_LOST_TO_ANOTHER = frozenset({"40P01", "40001"})


def _lost_to_another(error: DBAPIError) -> bool:
    return getattr(error.orig, "sqlstate", None) in _LOST_TO_ANOTHER


class Database:
    """Runs units of work and reads; calls commit listeners after a commit that appended events."""

    def __init__(
        self,
        url: str,
        *,
        catalog: EventCatalog,
        clock: Clock | None = None,
        partitions: int = 16,
        sqlite_synchronous: SqliteSynchronous = "FULL",
        sqlite_mmap_bytes: int = 2 * 1024**3,
    ) -> None:
        self.url = normalise_url(url)
        self.sqlite_synchronous = sqlite_synchronous
        self.sqlite_mmap_bytes = sqlite_mmap_bytes
        self.catalog = catalog
        self.clock: Clock = clock or SystemClock()
        self.partitions = partitions
        self.driver = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        self._listeners: list[Callable[[], None]] = []
        self._event_listeners: list[Callable[[list[Event]], None]] = []
        self._started = False
        # embedded driver
        self._engine: Engine | None = None
        self._writer: SqliteWriter | None = None
        self._readers: ThreadPoolExecutor | None = None
        #: The connection ``read_rows`` uses on the event loop's thread.
        self._inline: Any = None
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
            if self._writer is not None:
                await self._writer.stop()  # commits its queue first
            if self._readers is not None:
                await asyncio.to_thread(self._readers.shutdown, True)
            if self._inline is not None:
                self._inline.close()
                self._inline = None
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
            assert self._writer is not None
            loop = asyncio.get_running_loop()
            future: asyncio.Future[T] = loop.create_future()
            self._writer.submit(Job(fn, context, loop, future, background=background))
            return await future
        assert self._sessions is not None, "Database.start() was not called"
        uows: list[UnitOfWork] = []  # the attempt's unit of work (the last one)

        def run(sync_session: Session) -> T:
            uows.clear()
            uow = self._unit_of_work(sync_session, context)
            uows.append(uow)
            result = fn(uow)
            uow.flush_events()
            return result

        for attempt in range(1, PG_WRITE_ATTEMPTS + 1):
            try:
                async with self._sessions() as session, session.begin():
                    result: T = await session.run_sync(run)
            except DBAPIError as error:
                if attempt == PG_WRITE_ATTEMPTS or not _lost_to_another(error):
                    raise
                await asyncio.sleep(0.005 * attempt)
                continue
            break
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
            assert self._writer is not None
            self._writer.submit(
                Job(partial(_run_alone, batched, request), context, loop, future, batched, request)
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

    async def read_rows(self, fn: Callable[[Rows], T], *, one_statement: bool = False) -> T:
        """Run ``fn`` with prepared reads in one read transaction and return its result.

        On the embedded driver this runs on the calling thread (the event loop's), on a connection of its
        own: for the point reads ``PreparedRead`` is for, the hop to a reader thread costs more than the read.
        ``one_statement``: ``fn`` runs a single statement, which sees one snapshot by itself, so no
        transaction is begun around it (each call into SQLite lets the writer thread take the interpreter
        until it hands it back: one call instead of three).
        """
        if self.driver == "sqlite":
            assert self._engine is not None, "Database.start() was not called"
            if self._inline is None:
                self._inline = self._engine.raw_connection()
            connection = self._inline.driver_connection
            rows = SqliteRows(connection, self._engine.dialect)
            if one_statement:
                return fn(rows)
            connection.execute("BEGIN")
            try:
                return fn(rows)
            finally:
                connection.execute("COMMIT")
        assert self._async_engine is not None, "Database.start() was not called"
        async with self._async_engine.connect() as connection:
            return await connection.run_sync(lambda sync: fn(ConnectionRows(sync)))

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
                f"synchronous={self.sqlite_synchronous}",
                "busy_timeout=30000",
                "temp_store=MEMORY",
                "cache_size=-65536",
                f"mmap_size={int(self.sqlite_mmap_bytes)}",
                "foreign_keys=ON",
                f"journal_size_limit={WAL_SIZE_LIMIT}",
            ):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.info.get("writer") else "BEGIN")

        self._engine = engine
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cxstack-read")
        self._writer = SqliteWriter(engine, unit_of_work=self._unit_of_work, notify=self._notify)
        self._writer.start()
