"""Helpers shared by the channels' tests: the events in the log, running handlers and effects, and a
runtime on a database of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from tests.conftest import empty_postgres, started_runtime

from cxstack.backbone.log import read_events
from cxstack.config import Settings
from cxstack.runtime import Runtime


async def events_of(runtime: Runtime, *types: str) -> list[Any]:
    """The log's events of ``types`` (all when none), oldest first."""
    return await runtime.db.read(
        lambda session: read_events(session, after=0, limit=10_000, types=list(types) or None)
    )


async def settle(runtime: Runtime, until: Callable[[], bool] | None = None, timeout_s: float = 10.0) -> None:
    """Run the subscriptions and the effects they queue until the log is read and no effect is due (and
    ``until`` holds, for retries due later)."""
    assert runtime.bus is not None and runtime.effect_runner is not None
    async with asyncio.timeout(timeout_s):
        while True:
            await runtime.bus.drain()
            await runtime.effect_runner.drain()
            await runtime.bus.drain()
            if until is None or until():
                # What ``until`` saw at the provider may be an effect whose outcome is not recorded yet
                # (run by the runner's own loop): let it finish.
                await runtime.effect_runner.drain()
                await runtime.bus.drain()
                return
            await asyncio.sleep(0.02)


@asynccontextmanager
async def runtime_on_empty_database(settings: Settings, name: str) -> AsyncIterator[Runtime]:
    """A started runtime on an empty database of the settings' driver, with files of its own: a new SQLite
    file called ``name``, or the PostgreSQL test database emptied (so one at a time there)."""
    data_dir = settings.data_dir / name
    data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.database_url
    if settings.is_sqlite:
        url = f"sqlite:///{data_dir / 'cxstack.db'}"
    else:
        await empty_postgres(url)
    async with started_runtime(settings.model_copy(update={"database_url": url, "data_dir": data_dir})) as rt:
        yield rt
