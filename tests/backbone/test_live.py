"""The live feed: committed events pushed to watchers, by tenant, type and subject; never rolled-back ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text
from tests.backbone.scaleout_support import (
    delete_stream,
    empty_database,
    require_nats,
    stream_messages,
    unique_prefix,
)

from cxstack.backbone.envelope import Event
from cxstack.backbone.live import LiveFeed, LiveSubscription
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.records.customers.schemas import CustomerUpdated
from cxstack.runtime import Runtime


def publisher(*published: tuple[str, str], fail: bool = False) -> Callable[[UnitOfWork], None]:
    """A unit of work publishing ``customer.updated`` per (tenant, subject), then raising with ``fail``."""

    def write(uow: UnitOfWork) -> None:
        for tenant, subject in published:
            uow.publish(CustomerUpdated(customer_id=subject, changes={}), tenant_id=tenant, subject=subject)
        if fail:
            raise RuntimeError("rolled back")

    return write


async def received(watch: LiveSubscription, count: int, timeout_s: float = 5.0) -> list[Event]:
    events = []
    for _ in range(count):
        event = await watch.next(timeout_s)
        assert event is not None, f"only {len(events)} of {count} events arrived"
        events.append(event)
    return events


async def test_a_watcher_gets_its_tenants_committed_events_in_commit_order(runtime: Runtime) -> None:
    everything = runtime.live.subscribe(tenant_id="ten_a")
    one_subject = runtime.live.subscribe(tenant_id="ten_a", subjects=["cus_2"])
    await runtime.db.write(publisher(("ten_a", "cus_1"), ("ten_b", "cus_9"), ("ten_a", "cus_2")))
    with pytest.raises(RuntimeError):
        await runtime.db.write(publisher(("ten_a", "cus_rolled_back"), fail=True))
    await runtime.db.write(publisher(("ten_a", "cus_3")))

    assert [e.subject for e in await received(everything, 3)] == ["cus_1", "cus_2", "cus_3"]
    assert await everything.next(0.2) is None  # nothing of the other tenant, nothing rolled back
    assert [e.subject for e in await received(one_subject, 1)] == ["cus_2"]

    one_subject.watch_subject("cus_4")
    await runtime.db.write(publisher(("ten_a", "cus_4")))
    assert [e.subject for e in await received(one_subject, 1)] == ["cus_4"]
    one_subject.close()
    assert runtime.live.watchers == 1
    assert await one_subject.next(0.1) is None


async def test_a_watcher_that_falls_behind_is_cut_off(runtime: Runtime) -> None:
    slow = runtime.live.subscribe(tenant_id="ten_a", max_queue=3)
    await runtime.db.write(publisher(*[("ten_a", f"cus_{n}") for n in range(5)]))
    assert slow.overflowed and slow.closed
    assert [e.subject for e in [event async for event in slow]] == ["cus_0", "cus_1", "cus_2"]


@pytest.fixture
async def scale_out_runtime(pg_database: str) -> AsyncIterator[Runtime]:
    nats_url = require_nats()
    await empty_database(pg_database)
    prefix = unique_prefix()
    settings = Settings(database_url=pg_database, nats_url=nats_url, stream_prefix=prefix)
    runtime = Runtime.build(settings, run_bus=None, role="serve")
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
        await delete_stream(nats_url, prefix)


async def test_on_the_scale_out_driver_a_serve_process_sees_events_through_the_broker(
    scale_out_runtime: Runtime,
) -> None:
    runtime = scale_out_runtime
    assert runtime.live.nats_url is not None
    await asyncio.wait_for(runtime.live.listening.wait(), 10)
    watch = runtime.live.subscribe(tenant_id="ten_a", types=["customer.updated"])
    await runtime.db.write(publisher(("ten_a", "cus_1"), ("ten_b", "cus_2"), ("ten_a", "cus_3")))
    events = await received(watch, 2, timeout_s=10)
    assert [e.subject for e in events] == ["cus_1", "cus_3"]
    assert all(e.seq > 0 and e.tenant == "ten_a" for e in events)
    assert events[0].data["customer_id"] == "cus_1"


async def test_a_signal_reaches_watchers_in_process_on_the_embedded_driver(runtime: Runtime) -> None:
    typing = runtime.live.subscribe(tenant_id="ten_a", types=["chat.typing"], subjects=["cnv_1"])
    other_tenant = runtime.live.subscribe(tenant_id="ten_b")
    other_type = runtime.live.subscribe(tenant_id="ten_a", types=["customer.updated"])
    sent = await runtime.live.signal(
        tenant_id="ten_a", subject="cnv_1", type="chat.typing", data={"by": "visitor", "state": True}
    )
    await runtime.live.signal(tenant_id="ten_a", subject="cnv_2", type="chat.typing", data={"state": True})
    got = await received(typing, 1)
    assert got[0].id == sent.id and got[0].data == {"by": "visitor", "state": True} and got[0].seq == 0
    assert await typing.next(0.1) is None  # another subject
    assert await other_tenant.next(0.05) is None and await other_type.next(0.05) is None
    with pytest.raises(ValueError, match="tenant id"):
        await runtime.live.signal(tenant_id="ten.a>", subject="s", type="chat.typing", data={})


async def test_a_watcher_that_falls_behind_on_signals_is_cut_off(runtime: Runtime) -> None:
    slow = runtime.live.subscribe(tenant_id="ten_a", max_queue=2)
    for n in range(3):
        await runtime.live.signal(tenant_id="ten_a", subject=f"s{n}", type="chat.typing", data={})
    assert slow.overflowed and slow.closed


async def test_on_the_scale_out_driver_signals_reach_every_serve_process_and_are_never_stored(
    scale_out_runtime: Runtime,
) -> None:
    runtime = scale_out_runtime
    assert runtime.live.nats_url is not None
    other = LiveFeed(nats_url=runtime.live.nats_url, prefix=runtime.live.prefix)
    await other.start()
    try:
        await asyncio.wait_for(runtime.live.listening.wait(), 10)
        here = runtime.live.subscribe(tenant_id="ten_a", types=["chat.typing"])
        there = other.subscribe(tenant_id="ten_a", types=["chat.typing"], subjects=["cnv_1"])
        elsewhere = other.subscribe(tenant_id="ten_b")
        # A signal is best effort (plain NATS, at most once): one lost to a broker reconnect on a
        # loaded machine is sent again, as a typing indicator would be.
        sent: list[str] = []
        first: dict[str, Event] = {}
        for _ in range(5):
            signal = await runtime.live.signal(
                tenant_id="ten_a", subject="cnv_1", type="chat.typing", data={"state": True}
            )
            sent.append(signal.id)
            for name, watch in (("here", here), ("there", there)):
                if name not in first:
                    event = await watch.next(3)
                    if event is not None:
                        first[name] = event
            if len(first) == 2:
                break
        assert set(first) == {"here", "there"}, f"no signal reached {sorted({'here', 'there'} - set(first))}"
        for event in first.values():
            assert event.id in sent and event.data == {"state": True}
        assert await elsewhere.next(0.2) is None
        for name, watch in (("here", here), ("there", there)):  # each delivered once, through the broker
            later = []
            while (event := await watch.next(0.2)) is not None:
                later.append(event.id)
            assert first[name].id not in later and set(later) <= set(sent) and len(set(later)) == len(later)
    finally:
        await other.stop()
    # Plain NATS, not the stream: nothing of the signal is kept.
    messages = await stream_messages(runtime.live.nats_url, runtime.live.prefix)
    assert not [m for m in messages if "signals" in m.subject]
    assert not await runtime.db.read(
        lambda session: session.execute(text("SELECT id FROM events WHERE type = 'chat.typing'")).all()
    )
