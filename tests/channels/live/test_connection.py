"""What every live socket does alike, whichever it is (a webchat visitor's, an agent's, an in-app
user's): garbage answered with the same error frame and close code before and after the socket opened,
a field no database stores refused by name with the socket left open, ``ping`` answered, and a frame out
of turn refused."""

from __future__ import annotations

from typing import Any

import pytest
from tests.channels.live.conftest import Opener
from tests.channels.webchat.conftest import LiveServer, Socket, connect
from websockets.exceptions import ConnectionClosed

from cxstack.channels.live.frames import MAX_FRAME_BYTES

GARBAGE = [
    pytest.param(b"\x00\x01binary", "binary_frame", 1003, id="binary"),
    pytest.param("this is not json", "invalid_json", 1007, id="not-json"),
    pytest.param("[1, 2, 3]", "invalid_json", 1007, id="not-an-object"),
    pytest.param('{"type": "launch_missiles"}', "unknown_frame_type", 1008, id="unknown-type"),
    pytest.param(
        '{"type": "ping", "pad": "' + "x" * MAX_FRAME_BYTES + '"}', "frame_too_large", 1009, id="too-big"
    ),
]


async def _closed_with(socket: Socket) -> tuple[dict[str, Any], int]:
    error = await socket.expect("error")
    with pytest.raises(ConnectionClosed) as closed:
        await socket.next()
    assert closed.value.rcvd is not None and closed.value.rcvd.reason
    return error, closed.value.rcvd.code


@pytest.mark.parametrize(("frame", "code", "close_code"), GARBAGE)
async def test_garbage_as_the_first_frame_gets_the_same_error_and_close_code_on_every_socket(
    server: LiveServer, path: str, frame: str | bytes, code: str, close_code: int
) -> None:
    async with connect(server.ws_url + path) as socket:
        await socket.send(frame)
        error, closed_code = await _closed_with(socket)
        assert (error["code"], closed_code) == (code, close_code)


@pytest.mark.parametrize(("frame", "code", "close_code"), GARBAGE)
async def test_garbage_on_an_open_socket_gets_the_same_error_and_close_code_on_every_socket(
    open_socket: Opener, frame: str | bytes, code: str, close_code: int
) -> None:
    async with open_socket() as socket:
        await socket.send(frame)
        error, closed_code = await _closed_with(socket)
        assert (error["code"], closed_code) == (code, close_code)


async def test_a_nul_in_a_field_is_refused_by_name_and_the_socket_stays_open(open_socket: Opener) -> None:
    async with open_socket() as socket:
        await socket.send({"type": "message", "client_id": "nul", "conversation_id": "c", "body": "a\u0000b"})
        error = await socket.expect("error")
        assert error["code"] == "invalid_frame" and error["client_id"] == "nul"
        assert error["detail"].startswith("body:") and "U+0000" in error["detail"]
        await socket.send({"type": "typing", "state": "maybe"})
        error = await socket.expect("error")
        assert error["code"] == "invalid_frame" and error["detail"].startswith("state:")
        await socket.send({"type": "ping"})
        assert await socket.expect("pong") == {"type": "pong"}


async def test_a_frame_out_of_turn_is_refused_and_closes_the_socket(open_socket: Opener) -> None:
    async with open_socket() as socket:
        await socket.send({"type": "hello", "widget_key": "wk_again"})
        error, closed_code = await _closed_with(socket)
        assert (error["code"], closed_code) == ("unexpected_frame", 1008)
