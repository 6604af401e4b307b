"""One live socket's connection: accept, the first frames that open it (each socket's own), the receive
loop, the outbox that sends its frames, the live feed it watches, the check of its credential, and the
close.

Every frame a socket sends goes through its outbox, written by one task, so that frames keep their order
and a slow client never holds up the hub; a client that lets ``OUTBOX_LIMIT`` frames pile up is closed
(1008) and resumes when it reconnects. A refused frame is answered with an error frame (``frames``), a
domain error with the error frame of its code (the socket stays open), and a failure of the server's own
with an ``internal_error`` frame and 1011. ``ping`` is answered with ``pong`` by every socket.

Events the hub hands a socket before its welcome is sent are held and shown after it, so that a socket
that watches first and then reads what it missed (resume) loses nothing; what the welcome already holds
is not shown twice.

A socket opened with a credential that can be revoked (an agent's API key) checks it again every
``recheck_seconds`` and is closed (an error frame with the error's code, then 1008 with its detail) as
soon as it no longer holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Generic

import orjson
import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from cxstack.backbone.envelope import Event
from cxstack.channels.live.frames import (
    CLOSE_INTERNAL,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_UNSUPPORTED,
    MAX_FRAME_BYTES,
    PONG,
    Frame,
    FrameGrammar,
    FrameRefused,
    Ping,
    error_frame,
)
from cxstack.channels.live.hub import LiveHub
from cxstack.kit.errors import DomainError

log = structlog.get_logger("cxstack.live")

#: Frames a socket may have waiting to go out before it is closed as too slow.
OUTBOX_LIMIT = 5000
RESYNC = b'{"type":"resync"}'
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
        """Queue ``frame`` (a JSON object, or one already written); closes a client that lags too far."""
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
            self.close(CLOSE_NORMAL, "bye")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        self._task.cancel()


class LiveSocket(ABC, Generic[Frame]):
    """One live socket: the connection's life, with what differs from socket to socket left to a
    subclass: ``open`` (the first frames: authenticate, watch, welcome), ``handle`` (a later frame),
    ``show`` (an event of the live feed), and optionally ``check_credential`` and ``closing``."""

    #: How often ``check_credential`` runs once the socket is open (None: never).
    recheck_seconds: float | None = None

    def __init__(self, socket: WebSocket, *, hub: LiveHub, grammar: FrameGrammar[Frame]) -> None:
        self.socket = socket
        self.hub = hub
        self.grammar = grammar
        self.outbox: Outbox
        #: The tenant whose events the socket watches; None until it watches any.
        self.tenant_id: str | None = None
        self._everything = False
        self._subjects: set[str] = set()
        #: Events handed over before the welcome went out, shown after it.
        self._held: list[Event] | None = []

    # -- what each socket supplies -------------------------------------------------------------------

    @abstractmethod
    async def open(self) -> bool:
        """Read the first frames, authenticate, watch and send the welcome (``welcome``); return whether
        the socket is open (False: it was refused and is closing)."""

    @abstractmethod
    async def handle(self, frame: Frame) -> None:
        """Act on a frame of the open socket; raises FrameRefused, DomainError (answered as error frames)."""

    @abstractmethod
    def show(self, event: Event) -> None:
        """Send the frames, if any, that show ``event`` on this socket."""

    async def check_credential(self) -> None:
        """Raises DomainError when the credential the socket was opened with no longer holds."""

    async def closing(self) -> None:
        """Undo what the open socket stands for (it stopped watching already)."""

    # -- the hub's side ------------------------------------------------------------------------------

    def deliver(self, event: Event) -> None:
        if self._held is not None:
            self._held.append(event)
            return
        self.show(event)

    def resync(self) -> None:
        self.outbox.send(RESYNC)

    # -- for the sockets -----------------------------------------------------------------------------

    def watch_all(self, tenant_id: str) -> None:
        """Receive every event of the tenant (of the hub's types)."""
        self.tenant_id = tenant_id
        self._everything = True
        self.hub.watch_all(tenant_id, self)

    def watch_subject(self, tenant_id: str, subject: str) -> None:
        """Receive the tenant's events about ``subject`` too."""
        self.tenant_id = tenant_id
        self._subjects.add(subject)
        self.hub.watch_subject(tenant_id, subject, self)

    def unwatch_subject(self, subject: str) -> None:
        if self.tenant_id is not None and subject in self._subjects:
            self._subjects.discard(subject)
            self.hub.leave(self.tenant_id, self, subject)

    def welcome(self, frame: dict[str, Any], *, shown: Callable[[Event], bool] | None = None) -> None:
        """Send the welcome, then the events held while it was made, but those ``shown`` says it holds."""
        self.outbox.send(frame)
        held, self._held = self._held or [], None
        for event in held:
            if shown is None or not shown(event):
                self.show(event)

    async def read(self) -> Frame:
        """Return the next frame; raises Closing when the client left, FrameRefused for garbage."""
        try:
            message = await self.socket.receive()
        except (WebSocketDisconnect, RuntimeError):
            raise Closing from None
        if message["type"] == "websocket.disconnect":
            raise Closing
        text = message.get("text")
        if text is None:
            data = message.get("bytes") or b""
            if len(data) > MAX_FRAME_BYTES:
                raise FrameRefused(
                    "frame_too_large",
                    f"a frame may hold at most {MAX_FRAME_BYTES} bytes",
                    close=CLOSE_TOO_BIG,
                )
            raise FrameRefused(
                "binary_frame",
                "frames are JSON text; binary frames are not accepted",
                close=CLOSE_UNSUPPORTED,
            )
        return self.grammar.parse(text)

    async def read_first(self, expected: Callable[[Frame], bool], refusal: FrameRefused) -> Frame | None:
        """Return the first frame when it is ``expected``; else refuse it (with ``refusal`` when it parsed)
        and return None."""
        try:
            first = await self.read()
        except FrameRefused as refused:
            self.refuse(refused)
            return None
        if not expected(first):
            self.refuse(refusal)
            return None
        return first

    def refuse(self, refused: FrameRefused) -> None:
        """Answer a refused frame with an error frame, closing the socket when the refusal says so."""
        self.outbox.send(error_frame(refused.code, refused.detail, client_id=refused.client_id))
        if refused.close is not None:
            self.outbox.close(refused.close, refused.detail)

    def report(self, error: DomainError, client_id: str | None = None) -> None:
        """Answer with the error frame of a domain error (the socket stays open)."""
        extra: dict[str, Any] = {"field": error.field} if error.field else {}
        self.outbox.send(error_frame(error.code, error.detail, client_id=client_id, **extra))

    def end(self, error: DomainError) -> None:
        """Close the socket for ``error``: its error frame, then 1008 with its detail."""
        self.report(error)
        self.outbox.close(CLOSE_POLICY, error.detail)

    # -- the connection ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the socket until it closes."""
        await self.socket.accept()
        self.outbox = Outbox(self.socket)
        recheck: asyncio.Task[None] | None = None
        try:
            with contextlib.suppress(Closing):
                if await self.open():
                    if self.recheck_seconds is not None:
                        recheck = asyncio.get_running_loop().create_task(self._recheck(self.recheck_seconds))
                    await self._receive()
        except Exception:
            log.exception("live socket failed", socket=type(self).__name__)
            self.outbox.send(error_frame("internal_error", "something went wrong on our side; reconnect"))
            self.outbox.close(CLOSE_INTERNAL, "internal error")
        finally:
            if recheck is not None:
                recheck.cancel()
            self._leave()
            await self.closing()
            await self.outbox.finish()

    async def _receive(self) -> None:
        while not self.outbox.closed:
            try:
                frame = await self.read()
                if isinstance(frame, Ping):
                    self.outbox.send(PONG)
                else:
                    await self.handle(frame)
            except FrameRefused as refused:
                self.refuse(refused)
            except DomainError as error:
                self.report(error)

    async def _recheck(self, every: float) -> None:
        while not self.outbox.closed:
            await asyncio.sleep(every)
            try:
                await self.check_credential()
            except DomainError as error:
                self.end(error)
                return
            except Exception as error:  # the check could not run (the database away): try again later
                log.warning("live socket credential not checked", error=repr(error))

    def _leave(self) -> None:
        if self.tenant_id is None:
            return
        if self._everything:
            self.hub.leave(self.tenant_id, self)
        for subject in self._subjects:
            self.hub.leave(self.tenant_id, self, subject)
        self._subjects.clear()
        self._everything = False
