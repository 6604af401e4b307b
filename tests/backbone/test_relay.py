"""The relay publishes the committed event log to NATS JetStream, once per event and in log order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from benchmarks.harness import free_port
from nats.js.api import StorageType
from tests.backbone.scaleout_support import (
    TENANT,
    ProbeRecorded,
    delete_stream,
    empty_database,
    eventually,
    fetch,
    logged,
    record_probes,
    require_nats,
    started_database,
    stream_messages,
    unique_prefix,
)

from cxstack.backbone.database import Database
from cxstack.backbone.log import read_events
from cxstack.backbone.relay import Relay, event_subject, stream_name
from cxstack.backbone.unit_of_work import UnitOfWork


class Boom(Exception):
    pass


@pytest.fixture
def nats_url() -> str:
    return require_nats()


@pytest.fixture
async def pg_url(pg_database: str) -> str:
    await empty_database(pg_database)
    return pg_database


@pytest.fixture
async def prefix(nats_url: str) -> AsyncIterator[str]:
    prefix = unique_prefix()
    yield prefix
    await delete_stream(nats_url, prefix)


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[Database]:
    db = await started_database(pg_url)
    yield db
    await db.stop()


def make_relay(db: Database, nats_url: str, prefix: str, **options: float) -> Relay:
    return Relay(db, nats_url=nats_url, prefix=prefix, poll_s=0.05, retry_s=0.1, **options)  # type: ignore[arg-type]


async def relay_position(pg_url: str, prefix: str) -> int:
    rows = await fetch(
        pg_url, "SELECT position FROM relay_positions WHERE name = $1", f"nats:{stream_name(prefix)}"
    )
    return int(rows[0]["position"]) if rows else 0


async def test_relay_publishes_each_committed_event_once_in_log_order(
    db: Database, pg_url: str, nats_url: str, prefix: str
) -> None:
    await record_probes(db, ["cus_a", "cus_b", "cus_c"])

    def fails(uow: UnitOfWork) -> None:
        uow.publish(ProbeRecorded(n=99), tenant_id=TENANT, subject="cus_rolled_back")
        raise Boom

    with pytest.raises(Boom):
        await db.write(fails)
    relay = make_relay(db, nats_url, prefix)
    await relay.start()
    try:
        # Events committed while the relay runs are published too, after the earlier ones.
        await record_probes(db, ["cus_b", "cus_d"], start=3)
        committed = await logged(pg_url, "probe.recorded")
        assert len(committed) == 5

        async def all_published() -> bool:
            return len(await stream_messages(nats_url, prefix)) >= len(committed)

        await eventually(all_published)
        await eventually(lambda: _position_is(pg_url, prefix, committed[-1]["seq"]))
    finally:
        await relay.stop()

    messages = await stream_messages(nats_url, prefix)
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [row["id"] for row in committed]
    assert [m.body["id"] for m in messages] == [row["id"] for row in committed]
    assert [m.body["sequence"] for m in messages] == [str(row["seq"]) for row in committed]
    assert [m.subject for m in messages] == [
        event_subject(prefix, row["partition"], "probe.recorded") for row in committed
    ]
    assert [m.body["subject"] for m in messages] == ["cus_a", "cus_b", "cus_c", "cus_b", "cus_d"]
    first = messages[0].body
    assert first["specversion"] == "1.0"
    assert first["type"] == "probe.recorded"
    assert first["tenant"] == TENANT
    assert first["data"] == {"n": 0}
    in_log = await db.read(lambda session: read_events(session, after=0, limit=100))
    assert [m.body for m in messages] == [event.to_cloudevent() for event in in_log]
    assert "cus_rolled_back" not in {m.body["subject"] for m in messages}


async def _position_is(pg_url: str, prefix: str, seq: int) -> bool:
    return await relay_position(pg_url, prefix) == seq


async def test_relay_creates_a_file_backed_stream_with_a_duplicate_window(
    db: Database, nats_url: str, prefix: str
) -> None:
    relay = make_relay(db, nats_url, prefix)
    await relay.start()
    try:
        await eventually(lambda: _active(relay))
    finally:
        await relay.stop()
    client = await nats.connect(nats_url)
    try:
        info = await client.jetstream().stream_info(stream_name(prefix))
    finally:
        await client.close()
    assert info.config.storage == StorageType.FILE
    assert info.config.subjects == [f"{prefix}.events.>"]
    assert (info.config.duplicate_window or 0) >= 60


async def _active(relay: Relay) -> bool:
    return relay.active


async def test_relay_resumes_after_restart_without_duplicates(
    db: Database, pg_url: str, nats_url: str, prefix: str
) -> None:
    await record_probes(db, [f"cus_{i}" for i in range(20)])
    first = make_relay(db, nats_url, prefix)
    await first.start()
    try:
        await eventually(lambda: _count_is(nats_url, prefix, 20))
    finally:
        await first.stop()
    # A relay that died after publishing but before its position committed: the position lags behind.
    await fetch(pg_url, "UPDATE relay_positions SET position = 5")
    await record_probes(db, [f"cus_{i}" for i in range(20, 30)], start=20)

    second = make_relay(db, nats_url, prefix)
    await second.start()
    try:
        committed = await logged(pg_url, "probe.recorded")
        await eventually(lambda: _position_is(pg_url, prefix, committed[-1]["seq"]))
    finally:
        await second.stop()

    messages = await stream_messages(nats_url, prefix)
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [row["id"] for row in committed]


async def _count_is(nats_url: str, prefix: str, count: int) -> bool:
    return len(await stream_messages(nats_url, prefix)) == count


async def test_only_one_relay_publishes_and_another_takes_over_when_it_stops(
    pg_url: str, nats_url: str, prefix: str
) -> None:
    db_one, db_two = await started_database(pg_url), await started_database(pg_url)
    one, two = make_relay(db_one, nats_url, prefix), make_relay(db_two, nats_url, prefix)
    try:
        await one.start()
        await eventually(lambda: _active(one))
        await two.start()
        await record_probes(db_two, ["cus_1", "cus_2"])
        await eventually(lambda: _count_is(nats_url, prefix, 2))
        assert one.active and not two.active

        await one.stop()
        await eventually(lambda: _active(two))
        await record_probes(db_one, ["cus_3"], start=2)
        await eventually(lambda: _count_is(nats_url, prefix, 3))
    finally:
        await one.stop()
        await two.stop()
        await db_one.stop()
        await db_two.stop()
    messages = await stream_messages(nats_url, prefix)
    committed = await logged(pg_url, "probe.recorded")
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [row["id"] for row in committed]


async def test_a_relay_that_cannot_reach_the_broker_leaves_the_lock_to_one_that_can(
    pg_url: str, nats_url: str, prefix: str
) -> None:
    db_one, db_two = await started_database(pg_url), await started_database(pg_url)
    unreachable = make_relay(db_one, f"nats://127.0.0.1:{free_port()}", prefix)
    working = make_relay(db_two, nats_url, prefix)
    try:
        await unreachable.start()
        await asyncio.sleep(0.3)
        await working.start()
        await record_probes(db_two, ["cus_1"])
        await eventually(lambda: _count_is(nats_url, prefix, 1))
        assert working.active and not unreachable.active
    finally:
        await unreachable.stop()
        await working.stop()
        await db_one.stop()
        await db_two.stop()
