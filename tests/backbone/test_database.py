"""The database behind every unit of work: the SQLite writer's group commit, and starting and stopping."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cxstack.backbone import sqlite_writer
from cxstack.backbone.database import Database
from cxstack.backbone.log import read_events
from cxstack.backbone.migrate import upgrade
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.config import Settings
from cxstack.governance.audit.models import AuditEntry
from cxstack.governance.audit.service import record_audit
from cxstack.records.customers.schemas import CustomerUpdated
from cxstack.runtime import Runtime

TENANT = "ten_database"


class Abort(BaseException):
    """Something a job raises that is not an Exception (as SystemExit or GeneratorExit are not)."""


def touch(uow: UnitOfWork, name: str) -> str:
    """Write an audit row and publish ``customer.updated`` for ``name``."""
    record_audit(uow, tenant_id=TENANT, action="customer.touched", target_type="customer", target_id=name)
    uow.publish(CustomerUpdated(customer_id=name, changes={}), tenant_id=TENANT, subject=name)
    return name


async def committed(db: Database) -> tuple[set[str], set[str]]:
    """Return the names with an audit row and the subjects with an event."""

    def query(session: Session) -> tuple[set[str], set[str]]:
        rows = set(session.scalars(select(AuditEntry.target_id).where(AuditEntry.tenant_id == TENANT)))
        events = {event.subject for event in read_events(session, after=0, limit=10_000)}
        return rows, events

    return await db.read(query)


def keep_writer_busy(db: Database, seconds: float = 0.2) -> asyncio.Future[None]:
    """Occupy the SQLite writer so that the writes submitted next are committed as one group."""
    return asyncio.ensure_future(db.write(lambda uow: time.sleep(seconds)))


async def test_stopping_a_new_sqlite_database_returns_promptly_and_leaves_no_wal(tmp_path: Path) -> None:
    # The checkpointer's connection may be the first to open a new, empty file; a checkpoint on it at
    # shutdown used to wait for the whole busy timeout (30 s).
    for attempt in range(12):
        path = tmp_path / f"new-{attempt}.db"
        runtime = Runtime.build(Settings(database_url=f"sqlite:///{path}"), run_bus=False)
        await runtime.db.start()
        await upgrade(runtime.db)
        await runtime.db.write(lambda uow: touch(uow, "cus_1"))
        async with asyncio.timeout(5):
            await runtime.db.stop()
        wal = path.with_name(path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0


async def test_the_wal_starts_again_under_steady_writes_instead_of_growing_with_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a commit always in flight, a checkpoint beside the writer never copies the whole WAL, so SQLite
    # never writes it from its start again: the file grew by every page ever written (GBs an hour).
    monkeypatch.setattr(sqlite_writer, "CHECKPOINT_INTERVAL_S", 0.02)
    monkeypatch.setattr(sqlite_writer, "WAL_RESTART_FRAMES", 64)
    path = tmp_path / "steady.db"
    runtime = Runtime.build(Settings(database_url=f"sqlite:///{path}"), run_bus=False)
    await runtime.db.start()
    await upgrade(runtime.db)
    wal = path.with_name(path.name + "-wal")
    note = "x" * 4000  # about a page for each event

    def burst(uow: UnitOfWork, n: int) -> None:
        for i in range(50):
            uow.publish(
                CustomerUpdated(customer_id=f"cus_{n}_{i}", changes={"note": note}),
                tenant_id=TENANT,
                subject=f"cus_{n}_{i}",
            )

    async def writer(first: int) -> None:
        for n in range(first, first + 60):
            await runtime.db.write(lambda uow, n=n: burst(uow, n))

    async def reader() -> None:
        while not done.is_set():
            await runtime.db.read(lambda session: read_events(session, after=0, limit=50))

    done = asyncio.Event()
    reading = asyncio.ensure_future(reader())
    try:
        # Three writers keep a transaction always waiting: 180 commits of 50 pages, about 35 MB written.
        await asyncio.gather(writer(0), writer(1000), writer(2000))
    finally:
        done.set()
        await reading
    written_mb = 180 * 50 * 4096 / 2**20
    wal_mb = wal.stat().st_size / 2**20
    try:
        # Without restarts the WAL holds all of it (35 MB); with them it stays near a transaction's worth,
        # but on a machine busy with other work the checkpointer can miss a few passes (10 MB seen).
        assert wal_mb < written_mb / 2, f"the WAL file is {wal_mb:.1f} MB after {written_mb:.0f} MB written"
        assert len(await runtime.db.read(lambda session: read_events(session, after=0, limit=10_000))) == 9000
    finally:
        await runtime.db.stop()


async def test_a_stopped_database_refuses_writes_and_works_again_once_restarted(runtime: Runtime) -> None:
    db = runtime.db
    await db.write(lambda uow: touch(uow, "before"))
    await db.stop()

    with pytest.raises(RuntimeError, match="not started"):
        await db.write(lambda uow: touch(uow, "while-stopped"))

    await db.start()
    await db.write(lambda uow: touch(uow, "after"))
    assert await committed(db) == ({"before", "after"}, {"before", "after"})


async def test_a_background_write_commits_after_the_writes_waiting_beside_it(runtime: Runtime) -> None:
    if runtime.db.driver != "sqlite":
        pytest.skip(
            "the embedded driver's writer orders the writes waiting together; PostgreSQL runs each alone"
        )
    commits: list[list[str]] = []
    runtime.db.add_event_listener(
        lambda events: commits.append(
            [e.subject for e in events if e.subject.startswith(("caller", "round"))]
        )
    )
    busy = keep_writer_busy(runtime.db)
    # Queued first, but nobody waits on it: the callers queued after it do not wait for it either.
    background = asyncio.ensure_future(runtime.db.write(lambda uow: touch(uow, "round"), background=True))
    callers = [
        asyncio.ensure_future(runtime.db.write(lambda uow, n=n: touch(uow, f"caller-{n}"))) for n in range(3)
    ]
    await busy
    assert await asyncio.gather(background, *callers) == ["round", "caller-0", "caller-1", "caller-2"]
    await asyncio.sleep(0)  # the listeners are called soon after each commit
    assert [subjects for subjects in commits if subjects] == [["caller-0", "caller-1", "caller-2"], ["round"]]
    assert await committed(runtime.db) == (
        {"round", "caller-0", "caller-1", "caller-2"},
        {"round", "caller-0", "caller-1", "caller-2"},
    )


async def test_a_background_write_is_not_starved_by_a_stream_of_callers_writes(runtime: Runtime) -> None:
    if runtime.db.driver != "sqlite":
        pytest.skip(
            "the embedded driver's writer orders the writes waiting together; PostgreSQL runs each alone"
        )
    stream_ends = time.monotonic() + 0.8
    sent: list[asyncio.Future[str]] = []

    def slow_touch(uow: UnitOfWork, n: int) -> str:
        time.sleep(0.002)
        return touch(uow, f"caller-{n}")

    async def callers() -> None:
        # A write every millisecond, each taking two on the writer: the queue is never empty while they come.
        n = 0
        while time.monotonic() < stream_ends:
            sent.append(asyncio.ensure_future(runtime.db.write(lambda uow, n=n: slow_touch(uow, n))))
            n += 1
            await asyncio.sleep(0.001)

    stream = asyncio.ensure_future(callers())
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await runtime.db.write(lambda uow: touch(uow, "round"), background=True)
    waited = time.monotonic() - started
    await stream
    await asyncio.gather(*sent)
    assert waited < 0.3, f"the background write waited {waited:.2f} s behind a stream of callers' writes"


async def test_stopping_commits_the_background_writes_still_waiting(tmp_path: Path) -> None:
    runtime = Runtime.build(Settings(database_url=f"sqlite:///{tmp_path / 'stop.db'}"), run_bus=False)
    await runtime.db.start()
    await upgrade(runtime.db)
    busy = keep_writer_busy(runtime.db)
    rounds = [
        asyncio.ensure_future(runtime.db.write(lambda uow, n=n: touch(uow, f"round-{n}"), background=True))
        for n in range(3)
    ]
    callers = [
        asyncio.ensure_future(runtime.db.write(lambda uow, n=n: touch(uow, f"caller-{n}"))) for n in range(3)
    ]
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await runtime.db.stop()  # while the writer is still busy, with all of them queued
    await busy
    async with asyncio.timeout(5):
        answers = await asyncio.gather(*rounds, *callers)
    assert answers == [*(f"round-{n}" for n in range(3)), *(f"caller-{n}" for n in range(3))]
    await runtime.db.start()
    try:
        written = {f"round-{n}" for n in range(3)} | {f"caller-{n}" for n in range(3)}
        assert await committed(runtime.db) == (written, written)
    finally:
        await runtime.db.stop()


async def test_a_job_raising_a_base_exception_fails_alone_and_the_writer_keeps_going(
    runtime: Runtime,
) -> None:
    def abort(uow: UnitOfWork) -> None:
        touch(uow, "aborted")
        raise Abort

    busy = keep_writer_busy(runtime.db) if runtime.db.driver == "sqlite" else None
    first = asyncio.ensure_future(runtime.db.write(lambda uow: touch(uow, "first")))
    aborted = asyncio.ensure_future(runtime.db.write(abort))
    last = asyncio.ensure_future(runtime.db.write(lambda uow: touch(uow, "last")))
    with pytest.raises(Abort):
        await aborted
    assert (await first, await last) == ("first", "last")
    if busy is not None:
        await busy

    async with asyncio.timeout(5):
        await runtime.db.write(lambda uow: touch(uow, "later"))
    assert await committed(runtime.db) == ({"first", "last", "later"}, {"first", "last", "later"})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_write_whose_transaction_the_database_rolls_back_fails_alone(runtime: Runtime) -> None:
    # SQLite rolls back the whole transaction on a full disk; the others of the group must still commit,
    # and no caller may be told of a commit that did not happen.
    def fill_the_disk(uow: UnitOfWork) -> None:
        raw: Any = uow.session.connection().connection.dbapi_connection
        limit = raw.execute("PRAGMA max_page_count").fetchone()[0]
        pages = raw.execute("PRAGMA page_count").fetchone()[0]
        raw.execute(f"PRAGMA max_page_count={pages + 1}")
        try:
            record_audit(
                uow,
                tenant_id=TENANT,
                action="customer.touched",
                target_type="customer",
                target_id="huge",
                detail={"blob": "x" * 500_000},
            )
            uow.session.flush()
        finally:
            raw.execute(f"PRAGMA max_page_count={limit}")

    busy = keep_writer_busy(runtime.db)
    await asyncio.sleep(0.05)
    names = [f"cus_{n}" for n in range(6)]
    writes = [asyncio.ensure_future(runtime.db.write(lambda uow, n=n: touch(uow, n))) for n in names[:3]]
    full = asyncio.ensure_future(runtime.db.write(fill_the_disk))
    writes += [asyncio.ensure_future(runtime.db.write(lambda uow, n=n: touch(uow, n))) for n in names[3:]]
    await busy

    outcomes = await asyncio.gather(*writes, return_exceptions=True)
    assert await committed(runtime.db) == (set(names), set(names))
    assert outcomes == names
    with pytest.raises(OperationalError, match="full"):
        await full


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_writer_outlives_a_caller_whose_event_loop_has_closed(runtime: Runtime) -> None:
    db = runtime.db
    busy = keep_writer_busy(db, 0.3)
    await asyncio.sleep(0.05)

    def write_from_a_loop_that_closes() -> None:
        async def abandon() -> None:
            task = asyncio.ensure_future(db.write(lambda uow: touch(uow, "abandoned")))
            await asyncio.sleep(0.01)
            task.cancel()

        asyncio.run(abandon())

    thread = threading.Thread(target=write_from_a_loop_that_closes)
    thread.start()
    await asyncio.to_thread(thread.join)
    await busy

    async with asyncio.timeout(5):
        assert await db.write(lambda uow: touch(uow, "later")) == "later"


def touch_many(group_sizes: list[int], fail: set[str] | None = None, refuse_groups: bool = False) -> Any:
    """A batched write of ``touch``: records the size of each call; answers the names in ``fail`` with an
    error; with ``refuse_groups``, raises when called for more than one request."""

    def batched(uow: UnitOfWork, requests: Any) -> list[Any]:
        group_sizes.append(len(requests))
        if refuse_groups and len(requests) > 1:
            touch(uow, "written-then-rolled-back")
            raise RuntimeError("this batched write fails for any group")
        outcomes: list[Any] = []
        for context, name in requests:
            if name in (fail or set()):
                outcomes.append(ValueError(f"{name} is refused"))
                continue
            record_audit(
                uow, tenant_id=TENANT, action="customer.touched", target_type="customer", target_id=name
            )
            uow.publish(
                CustomerUpdated(customer_id=name, changes={}), tenant_id=TENANT, subject=name, context=context
            )
            outcomes.append(name)
        return outcomes

    return batched


async def test_batched_writes_waiting_together_run_in_one_call_and_fail_one_by_one(runtime: Runtime) -> None:
    db = runtime.db
    sizes: list[int] = []
    batched = touch_many(sizes, fail={"n3"})
    busy = keep_writer_busy(db)
    contexts = [Context(correlation_id=f"corr{n}") for n in range(6)]
    results = await asyncio.gather(
        *(db.write_batched(batched, f"n{n}", context=contexts[n]) for n in range(6)), return_exceptions=True
    )
    await busy
    assert results[:3] == ["n0", "n1", "n2"] and results[4:] == ["n4", "n5"]
    assert isinstance(results[3], ValueError) and str(results[3]) == "n3 is refused"
    rows, subjects = await committed(db)
    assert rows == subjects == {"n0", "n1", "n2", "n4", "n5"}
    # One call for the six: on SQLite behind the busy writer, on PostgreSQL as they arrived together.
    assert sizes == [6]

    def correlations(session: Session) -> dict[str, str]:
        return {event.subject: event.correlationid for event in read_events(session, after=0, limit=100)}

    # Each event carries its own caller's context, though one unit of work wrote them.
    assert await db.read(correlations) == {f"n{n}": f"corr{n}" for n in (0, 1, 2, 4, 5)}


async def test_a_batched_write_that_raises_runs_each_request_alone(runtime: Runtime) -> None:
    db = runtime.db
    sizes: list[int] = []
    batched = touch_many(sizes, refuse_groups=True)
    busy = keep_writer_busy(db)
    results = await asyncio.gather(*(db.write_batched(batched, f"n{n}") for n in range(4)))
    await busy
    assert results == ["n0", "n1", "n2", "n3"]
    assert sizes == [4, 1, 1, 1, 1]
    rows, subjects = await committed(db)
    # Nothing the failed group call wrote survives it.
    assert rows == subjects == {"n0", "n1", "n2", "n3"}


def synchronous_level(uow: UnitOfWork) -> int:
    """Return ``PRAGMA synchronous`` of the connection the unit of work writes on (1 NORMAL, 2 FULL)."""
    level = uow.session.connection().exec_driver_sql("PRAGMA synchronous").scalar()
    assert isinstance(level, int)
    return level


@pytest.mark.parametrize(("setting", "level"), [(None, 2), ("FULL", 2), ("NORMAL", 1)])
async def test_sqlite_commits_survive_power_loss_unless_told_otherwise(
    tmp_path: Path, setting: str | None, level: int
) -> None:
    """Every commit syncs the WAL (``FULL``) by default; ``CXSTACK_SQLITE_SYNCHRONOUS=NORMAL`` trades that
    for fewer fsyncs."""
    overrides = {} if setting is None else {"sqlite_synchronous": setting}
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'cx.db'}", **overrides)
    runtime = Runtime.build(settings, run_bus=False)
    await runtime.db.start()
    try:
        assert await runtime.db.write(synchronous_level) == level
    finally:
        await runtime.db.stop()


def mmap_size(uow: UnitOfWork) -> int:
    size = uow.session.connection().exec_driver_sql("PRAGMA mmap_size").scalar()
    assert isinstance(size, int)
    return size


@pytest.mark.parametrize(("setting", "size"), [(None, 2 * 1024**3), (0, 0), (64 * 1024**2, 64 * 1024**2)])
async def test_sqlite_reads_through_memory_mapping_unless_told_otherwise(
    tmp_path: Path, setting: int | None, size: int
) -> None:
    """Connections map the database file (``CXSTACK_SQLITE_MMAP_BYTES``), within SQLite's own cap."""
    overrides = {} if setting is None else {"sqlite_mmap_bytes": setting}
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'cx.db'}", **overrides)
    runtime = Runtime.build(settings, run_bus=False)
    await runtime.db.start()
    try:
        found = await runtime.db.write(mmap_size)
        options = sqlite3.connect(":memory:").execute("PRAGMA compile_options").fetchall()
        caps = [int(option.split("=")[1], 0) for (option,) in options if option.startswith("MAX_MMAP_SIZE=")]
        limit = caps[0] if caps else 0x7FFF0000  # SQLite's default cap
        assert found == min(size, limit)
    finally:
        await runtime.db.stop()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_write_postgresql_picks_as_a_deadlocks_victim_runs_again_and_both_commit(
    runtime: Runtime,
) -> None:
    # Two writes take two tenants' rows in opposite orders: PostgreSQL rolls one of them back
    # (deadlock_detected); the database runs it again, so both callers see their change committed.
    tenants = [f"ten_deadlock_{name}" for name in ("a", "b")]

    def create(uow: UnitOfWork) -> None:
        for tenant_id in tenants:
            uow.session.execute(
                text("INSERT INTO tenants (id, slug, name, created_at) VALUES (:id, :id, :id, now())"),
                {"id": tenant_id},
            )

    await runtime.db.write(create)
    runs: list[str] = []

    def take(first: str, second: str) -> Callable[[UnitOfWork], None]:
        def write(uow: UnitOfWork) -> None:
            runs.append(first)
            for tenant_id in (first, second):
                uow.session.execute(
                    text("UPDATE tenants SET name = name || '+' WHERE id = :id"), {"id": tenant_id}
                )
                uow.session.execute(text("SELECT pg_sleep(0.3)"))

        return write

    await asyncio.gather(runtime.db.write(take(*tenants)), runtime.db.write(take(*reversed(tenants))))
    assert len(runs) == 3  # one of the two ran twice

    def names(session: Session) -> list[str]:
        rows = session.execute(
            text("SELECT name FROM tenants WHERE id IN :ids ORDER BY id").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": tenants},
        )
        return [row[0] for row in rows]

    assert await runtime.db.read(names) == [f"{tenant_id}++" for tenant_id in tenants]
