"""Running the ASGI app under uvicorn with the settings the hot path needs."""

from __future__ import annotations

import asyncio
import gc

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
        log_level=settings.log_level,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    # Objects alive after start-up are long-lived; keeping them out of collections shortens GC pauses.
    gc.collect()
    gc.freeze()
    server.run()
