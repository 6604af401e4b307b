"""Webchat fixtures: a real HTTP and WebSocket server (uvicorn on a free port of 127.0.0.1) in front of
the test's runtime, the widget settings written through the API, and socket clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
import uvicorn
import websockets
from tests.conftest import TenantKey
from websockets.asyncio.client import ClientConnection

from cxstack.runtime import Runtime
from cxstack.web.app import create_app


@dataclass
class LiveServer:
    url: str

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1 in this event loop; yield its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", ws_ping_interval=None
    )
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    while not served.started:
        await asyncio.sleep(0.01)
        if task.done():
            task.result()
    port = served.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        served.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


@pytest.fixture
async def server(runtime: Runtime) -> AsyncIterator[LiveServer]:
    """cxstack's app served by uvicorn on 127.0.0.1 (a free port), on the test's runtime."""
    async with serving(create_app(runtime, manage_runtime=False)) as url:
        yield LiveServer(url)


@pytest.fixture
async def widget(api: httpx.AsyncClient) -> dict[str, Any]:
    """The tenant's webchat settings (default: always open, no pre-chat form)."""
    response = await api.put("/v1/channels/webchat/settings", json={"greeting": "Hello from Acme"})
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()
    return settings


class Socket:
    """A WebSocket client that reads JSON frames, skipping those a test does not wait for."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.seen: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        if isinstance(frame, dict):
            await self.connection.send(orjson.dumps(frame).decode())
        else:
            await self.connection.send(frame)

    async def next(self, timeout_s: float = 5.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), timeout_s)
        frame: dict[str, Any] = orjson.loads(raw)
        self.seen.append(frame)
        return frame

    async def expect(self, kind: str, timeout_s: float = 5.0, **match: Any) -> dict[str, Any]:
        """Return the next frame of type ``kind`` (whose fields equal ``match``), skipping others."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no {kind} frame {match} within {timeout_s}s; saw {self.seen[-10:]}")
            frame = await self.next(left)
            if frame["type"] == kind and all(frame.get(key) == value for key, value in match.items()):
                return frame

    async def quiet(self, kind: str, seconds: float = 0.3) -> None:
        """Assert no frame of type ``kind`` arrives within ``seconds``."""
        with contextlib.suppress(TimeoutError):
            while True:
                frame = await self.next(seconds)
                assert frame["type"] != kind, frame

    async def close(self) -> None:
        await self.connection.close()


@contextlib.asynccontextmanager
async def connect(url: str, **options: Any) -> AsyncIterator[Socket]:
    async with websockets.connect(url, max_size=None, **options) as connection:
        yield Socket(connection)


@contextlib.asynccontextmanager
async def visitor(
    server: LiveServer, widget_key: str, **hello: Any
) -> AsyncIterator[tuple[Socket, dict[str, Any]]]:
    """A visitor's socket after its hello; yields it with the welcome frame."""
    async with connect(server.ws_url + "/ws/webchat") as socket:
        await socket.send({"type": "hello", "widget_key": widget_key, **hello})
        welcome = await socket.expect("welcome")
        yield socket, welcome


@contextlib.asynccontextmanager
async def agent(server: LiveServer, tenant: TenantKey) -> AsyncIterator[Socket]:
    async with connect(server.ws_url + "/ws/agent", additional_headers=tenant.headers) as socket:
        await socket.expect("welcome")
        yield socket


def closed_now() -> dict[str, Any]:
    """Business hours that exclude this moment (open only one hour, twelve hours from now, in Tokyo)."""
    zone = ZoneInfo("Asia/Tokyo")
    now = datetime.now(UTC).astimezone(zone)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[now.weekday()]
    start = (now.hour + 12) % 24
    return {"timezone": "Asia/Tokyo", "days": {day: [[f"{start:02d}:00", f"{start:02d}:30"]]}}
