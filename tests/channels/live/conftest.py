"""Live socket fixtures: the webchat channel's live server (which serves every live socket) and a way to
open each kind of socket up to its welcome."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from tests.channels.webchat.conftest import LiveServer, Socket, agent, connect, server, visitor, widget
from tests.conftest import TenantKey

__all__ = ["server", "widget"]  # the webchat channel's live server and widget settings

#: Opens a socket of one kind; yields it after its welcome.
Opener = Callable[[], contextlib.AbstractAsyncContextManager[Socket]]

SOCKET_KINDS = ("visitor", "agent", "inapp")


@pytest.fixture
async def app_settings(api: httpx.AsyncClient) -> dict[str, Any]:
    """The tenant's in-app channel settings (app key and identity secret)."""
    response = await api.put("/v1/channels/inapp/settings", json={})
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()
    return settings


@contextlib.asynccontextmanager
async def app_user(server: LiveServer, settings: dict[str, Any], user_id: str) -> AsyncIterator[Socket]:
    """An in-app socket of the signed-in ``user_id`` after its welcome."""
    signed = hmac.new(settings["identity_secret"].encode(), user_id.encode(), hashlib.sha256).hexdigest()
    async with connect(server.ws_url + "/ws/inapp") as socket:
        await socket.send(
            {"type": "hello", "widget_key": settings["widget_key"], "user_id": user_id, "user_hash": signed}
        )
        await socket.expect("welcome")
        yield socket


@pytest.fixture(params=SOCKET_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """A kind of live socket: a webchat visitor's, an agent's or an in-app user's."""
    chosen: str = request.param
    return chosen


@pytest.fixture
def open_socket(kind: str, server: LiveServer, tenant: TenantKey, request: pytest.FixtureRequest) -> Opener:
    """Opens a socket of the test's kind, past its welcome."""
    if kind == "visitor":
        settings = request.getfixturevalue("widget")

        @contextlib.asynccontextmanager
        async def opened_visitor() -> AsyncIterator[Socket]:
            async with visitor(server, settings["widget_key"]) as (socket, _):
                yield socket

        return opened_visitor
    if kind == "agent":
        return lambda: agent(server, tenant)
    settings = request.getfixturevalue("app_settings")
    return lambda: app_user(server, settings, "user-1")


@pytest.fixture
def path(kind: str) -> str:
    """The socket's path on the server."""
    return {"visitor": "/ws/webchat", "agent": "/ws/agent", "inapp": "/ws/inapp"}[kind]
