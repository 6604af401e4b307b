"""Running the ASGI app under uvicorn with the settings the hot path needs."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from dataclasses import dataclass

import uvicorn

from cxstack.backbone.migrate import upgrade
from cxstack.config import Settings
from cxstack.runtime import Runtime
from cxstack.web.app import create_app


def run_server(settings: Settings, *, host: str, port: int, migrate: bool = True) -> None:
    """Serve until interrupted: the settings' event loop and httptools, no access log, GC frozen after
    start-up."""
    if migrate:

        async def migrate_schema() -> None:
            runtime = Runtime.build(settings, run_bus=False)
            await runtime.db.start()
            try:
                await upgrade(runtime.db)
            finally:
                await runtime.db.stop()

        asyncio.run(migrate_schema())
    runtime = Runtime.build(settings)
    app = create_app(runtime)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=settings.event_loop,
        http="httptools",
        access_log=False,
        # Chat frames are small: compressing each costs more CPU than the bytes it saves.
        ws_per_message_deflate=False,
        log_level=settings.log_level,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    # Objects alive after start-up are long-lived; keeping them out of collections shortens GC pauses.
    gc.collect()
    gc.freeze()
    stop = threading.Event()
    threading.Thread(target=_keep_long_lived_out_of_gc, args=(stop,), name="cxstack-gc", daemon=True).start()
    try:
        server.run()
    finally:
        stop.set()


#: How often objects that have lived so far (open WebSockets and their state) are moved out of the cyclic
#: collector's sight: with thousands of sockets open, a full collection that scans them all stops the
#: process for hundreds of milliseconds every few seconds of traffic. Every second, because a socket's
#: wait for its next frame (coroutines, futures) is rebuilt after each message and lives seconds: at 1,000
#: webchat messages a second, 30,000 such objects a second reached the oldest generation, which with a
#: 10-second interval was collected in full every two seconds, 100 to 450 ms each time.
GC_FREEZE_EVERY_S = 1.0
#: How long after the last time they are handed back and collected once more (one pause: 0.4 to 0.7 s with
#: 5,000 sockets open), so that cycles among them that became garbage are freed rather than kept for ever:
#: the HTTP protocol objects of connections that became WebSockets (about 18 objects each), and a few SQL
#: constructs. At the first quiet second after ``GC_THAW_EVERY_S``, so that the pause lands where nobody
#: waits; under steady load, after ``GC_THAW_AT_LATEST_S`` all the same.
GC_THAW_EVERY_S = 900.0
GC_THAW_AT_LATEST_S = 3600.0
#: A second is quiet when the process used less than this share of a core in it.
GC_QUIET_CPU_SHARE = 0.25


@dataclass
class ThawSchedule:
    """When frozen objects are handed back to the collector (see ``GC_THAW_EVERY_S``)."""

    thawed_at: float
    every_s: float
    at_latest_s: float
    quiet_share: float

    def due(self, now: float, cpu_share: float) -> bool:
        """Whether to thaw and collect at ``now`` (monotonic seconds), the process having used
        ``cpu_share`` of a core over the last second."""
        since = now - self.thawed_at
        return since >= self.at_latest_s or (since >= self.every_s and cpu_share < self.quiet_share)


def _keep_long_lived_out_of_gc(stop: threading.Event) -> None:
    schedule = ThawSchedule(
        thawed_at=time.monotonic(),
        every_s=GC_THAW_EVERY_S,
        at_latest_s=GC_THAW_AT_LATEST_S,
        quiet_share=GC_QUIET_CPU_SHARE,
    )
    cpu_before, at_before = time.process_time(), time.monotonic()
    while not stop.wait(GC_FREEZE_EVERY_S):
        now, cpu = time.monotonic(), time.process_time()
        share = (cpu - cpu_before) / max(now - at_before, 1e-6)
        cpu_before, at_before = cpu, now
        if schedule.due(now, share):
            gc.unfreeze()
            gc.collect()
            schedule.thawed_at = time.monotonic()
        gc.freeze()
