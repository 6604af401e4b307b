"""The server's handling of the cyclic garbage collector: long-lived objects frozen every second, and
handed back to be collected at a quiet moment (see ``cxstack.web.server``)."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from cxstack.config import Settings
from cxstack.web import server
from cxstack.web.server import ThawSchedule


class Node:
    """Half of a reference cycle: only the cyclic collector frees it."""

    other: Node | None = None


def frozen_cycle() -> weakref.ref[Node]:
    """Make a reference cycle, freeze it with everything else, drop it; return a weak reference to it."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    gc.freeze()
    return weakref.ref(a)


@pytest.fixture
def keeper(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    monkeypatch.setattr(server, "GC_FREEZE_EVERY_S", 0.02)
    monkeypatch.setattr(server, "GC_THAW_EVERY_S", 0.2)
    monkeypatch.setattr(server, "GC_THAW_AT_LATEST_S", 1.5)
    stop = threading.Event()
    yield stop
    stop.set()
    gc.unfreeze()


def test_the_thaw_waits_for_a_quiet_second_until_its_latest_time() -> None:
    schedule = ThawSchedule(thawed_at=100.0, every_s=900.0, at_latest_s=3600.0, quiet_share=0.25)
    assert not schedule.due(100.0 + 899, cpu_share=0.0)  # too soon, however quiet
    assert not schedule.due(100.0 + 901, cpu_share=0.9)  # busy: a pause would hold up traffic
    assert schedule.due(100.0 + 901, cpu_share=0.1)  # the first quiet second after it is due
    assert schedule.due(100.0 + 3600, cpu_share=1.0)  # busy for an hour: once all the same


def test_garbage_among_frozen_objects_is_collected_once_the_process_is_quiet(keeper: threading.Event) -> None:
    gone = frozen_cycle()
    gc.collect()
    assert gone() is not None  # frozen: out of the collector's sight
    threading.Thread(target=server._keep_long_lived_out_of_gc, args=(keeper,), daemon=True).start()
    deadline = time.monotonic() + 1.0  # well before the latest time: collected because the test idles
    while gone() is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gone() is None


def test_a_busy_process_keeps_its_frozen_garbage_until_the_latest_time(keeper: threading.Event) -> None:
    gone = frozen_cycle()
    threading.Thread(target=server._keep_long_lived_out_of_gc, args=(keeper,), daemon=True).start()
    started = time.monotonic()
    while time.monotonic() - started < 0.8:  # a full core, past GC_THAW_EVERY_S
        sum(range(10_000))
    assert gone() is not None
    while gone() is not None and time.monotonic() - started < 3.0:
        sum(range(10_000))  # still busy: collected at GC_THAW_AT_LATEST_S regardless
    collected_after = time.monotonic() - started
    assert gone() is None
    assert collected_after > 1.4, f"collected after {collected_after:.2f} s while busy"


@pytest.mark.parametrize(("choice", "loop_module"), [("asyncio", "asyncio"), ("uvloop", "uvloop")])
def test_serve_runs_on_the_event_loop_the_settings_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, choice: str, loop_module: str
) -> None:
    """``CXSTACK_EVENT_LOOP``: the standard loop answers requests in the order they came (the default);
    uvloop is the opt-in."""
    ran_on: list[type[asyncio.AbstractEventLoop]] = []

    async def serve(self: uvicorn.Server, sockets: object = None) -> None:
        ran_on.append(type(asyncio.get_running_loop()))

    monkeypatch.setattr(uvicorn.Server, "serve", serve)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'cx.db'}", event_loop=choice)
    try:
        server.run_server(settings, host="127.0.0.1", port=0)
    finally:
        gc.unfreeze()  # run_server froze this process's objects
    (loop_type,) = ran_on
    assert loop_type.__module__.split(".")[0] == loop_module


def test_the_standard_event_loop_is_the_default() -> None:
    assert Settings().event_loop == "asyncio"
