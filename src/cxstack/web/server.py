"""Running the ASGI app under uvicorn with the settings the hot path needs."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import uvicorn

from cxstack.backbone.migrate import upgrade
from cxstack.config import Settings
from cxstack.runtime import Runtime
from cxstack.web.app import create_app


def run_server(settings: Settings, *, host: str, port: int, migrate: bool = True) -> None:
    """Serve until interrupted: uvloop and httptools, no access log, GC frozen after start-up."""
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
        loop="uvloop",
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
#: How often they are handed back and collected once (one such pause), so that cycles among them that
#: became garbage (closed sockets) are freed rather than kept for ever.
GC_THAW_EVERY_S = 900.0


def _keep_long_lived_out_of_gc(stop: threading.Event) -> None:
    thawed_at = time.monotonic()
    while not stop.wait(GC_FREEZE_EVERY_S):
        if time.monotonic() - thawed_at >= GC_THAW_EVERY_S:
            gc.unfreeze()
            gc.collect()
            thawed_at = time.monotonic()
        gc.freeze()
