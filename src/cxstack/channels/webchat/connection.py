"""What the live-chat sockets share: the outbox that sends a socket's frames in order, reading a frame,
and answering a refused one.

Every frame a socket sends goes through its outbox, written by one task, so that frames keep their order
and a slow client never holds up the hub; a client that lets ``OUTBOX_LIMIT`` frames pile up is closed
(1008) and resumes when it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from cxstack.channels.webchat.protocol import (
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED,
    MAX_FRAME_BYTES,
    ClientFrame,
    FrameRefused,
    error_frame,
    parse_frame,
)
from cxstack.kit.errors import DomainError

OUTBOX_LIMIT = 5000
_CLOSE = object()


class Closing(Exception):
    """The socket is done: the client went away or was told to."""


class Outbox:
    """Frames waiting to go out on one socket, sent in order by one task."""

    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._pump())
        self.closed = False

    def send(self, frame: bytes | dict[str, Any]) -> None:
        if self.closed:
            return
        if self._queue.qsize() >= OUTBOX_LIMIT:
            self.close(CLOSE_POLICY, "client too slow: reconnect and resume")
            return
        self._queue.put_nowait(frame if isinstance(frame, bytes) else orjson.dumps(frame))

    def close(self, code: int, reason: str) -> None:
        """Send what is queued, then close the socket with ``code`` and ``reason``."""
        if not self.closed:
            self.closed = True
            self._queue.put_nowait((_CLOSE, code, reason))

    async def _pump(self) -> None:
        socket = self.socket
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, tuple):
                    if socket.application_state == WebSocketState.CONNECTED:
                        await socket.close(item[1], item[2][:120])
                    return
                await socket.send({"type": "websocket.send", "text": item.decode()})
        except Exception:  # the client went away; the reader notices too
            self.closed = True

    async def finish(self, timeout_s: float = 5.0) -> None:
        """Wait until the queued frames (and the close, if any) are sent."""
        if not self.closed:
            self.close(1000, "bye")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        self._task.cancel()


async def read_frame(socket: WebSocket) -> ClientFrame:
    """Return the next frame; raises Closing when the client left, FrameRefused for garbage."""
    try:
        message = await socket.receive()
    except (WebSocketDisconnect, RuntimeError):
        raise Closing from None
    if message["type"] == "websocket.disconnect":
        raise Closing
    text = message.get("text")
    if text is None:
        data = message.get("bytes") or b""
        if len(data) > MAX_FRAME_BYTES:
            raise FrameRefused(
                "frame_too_large", f"a frame may hold at most {MAX_FRAME_BYTES} bytes", close=CLOSE_TOO_BIG
            )
        raise FrameRefused(
            "binary_frame", "frames are JSON text; binary frames are not accepted", close=CLOSE_UNSUPPORTED
        )
    return parse_frame(text)


def refuse(outbox: Outbox, refused: FrameRefused) -> None:
    """Answer a refused frame with an error frame, closing the socket when the refusal says so."""
    outbox.send(error_frame(refused.code, refused.detail, client_id=refused.client_id))
    if refused.close is not None:
        outbox.close(refused.close, refused.detail)


def report_error(outbox: Outbox, error: DomainError, client_id: str | None = None) -> None:
    """Answer with the error frame of a domain error (the socket stays open)."""
    extra: dict[str, Any] = {"field": error.field} if error.field else {}
    outbox.send(error_frame(error.code, error.detail, client_id=client_id, **extra))
