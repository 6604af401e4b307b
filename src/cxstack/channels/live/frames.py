"""The frames of the live sockets: JSON text, one object each, with a ``type``; the close codes; and the
refusal of a frame as an ``error`` frame.

Garbage closes the socket after an error frame: a binary frame 1003 (``binary_frame``), text that is not a
JSON object 1007 (``invalid_json``), an unknown frame type 1008 (``unknown_frame_type``), a frame over
``MAX_FRAME_BYTES`` 1009 (``frame_too_large``). A frame of a known type whose fields do not validate, or
that holds a value no database stores (U+0000 in a string), is an ``invalid_frame`` error naming the field,
with the ``client_id`` of the frame when it has one; the socket stays open.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Generic, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from cxstack.kit.inputs import refused_value

#: The largest frame read; larger ones close the socket (1009). A message body's own limit is 64 KiB.
MAX_FRAME_BYTES = 256 * 1024

CLOSE_NORMAL = 1000
CLOSE_UNSUPPORTED = 1003
CLOSE_INVALID = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011

#: The answer to a ``ping`` frame.
PONG = b'{"type":"pong"}'

Frame = TypeVar("Frame")


class ClientFrameModel(BaseModel):
    """The base of a client frame: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Ping(ClientFrameModel):
    """``{"type": "ping"}``: answered with ``pong`` by every live socket."""

    type: Literal["ping"]


class FrameRefused(Exception):
    """A frame that is answered with an error frame; with ``close`` set, the socket is closed after it."""

    def __init__(self, code: str, detail: str, *, close: int | None = None, client_id: str | None = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.close = close
        self.client_id = client_id


class FrameGrammar(Generic[Frame]):
    """The frames a socket reads: ``frames`` validates them (a discriminated union on ``type``) and
    ``types`` names every type it knows."""

    def __init__(self, frames: TypeAdapter[Frame], types: Collection[str]) -> None:
        self.frames = frames
        self.types = frozenset(types)
        self._known = ", ".join(sorted(self.types))

    def parse(self, text: str) -> Frame:
        """Return the frame ``text`` holds; raises FrameRefused (closing for garbage, not for bad fields)."""
        if len(text) > MAX_FRAME_BYTES or len(text.encode()) > MAX_FRAME_BYTES:
            raise FrameRefused(
                "frame_too_large",
                f"a frame may hold at most {MAX_FRAME_BYTES} bytes (a message body at most 65536)",
                close=CLOSE_TOO_BIG,
            )
        try:
            raw = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            raise FrameRefused(
                "invalid_json", f"a frame is one JSON object: {error}", close=CLOSE_INVALID
            ) from None
        if not isinstance(raw, dict):
            raise FrameRefused("invalid_json", "a frame is one JSON object with a type", close=CLOSE_INVALID)
        kind = raw.get("type")
        if kind not in self.types:
            raise FrameRefused(
                "unknown_frame_type", f"unknown frame type {kind!r}; known: {self._known}", close=CLOSE_POLICY
            )
        client_id = raw.get("client_id") if isinstance(raw.get("client_id"), str) else None
        refused = refused_value(raw)
        if refused is not None:
            if client_id is not None and "\x00" in client_id:
                client_id = None
            raise FrameRefused("invalid_frame", f"{refused[0]}: {refused[1]}", client_id=client_id)
        try:
            return self.frames.validate_python(raw)
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"][1:]) or kind
            raise FrameRefused("invalid_frame", f"{where}: {first['msg']}", client_id=client_id) from None


def error_frame(code: str, detail: str, *, client_id: str | None = None, **extra: Any) -> bytes:
    """An ``error`` frame: ``code``, ``detail``, the ``client_id`` of the frame it answers, and ``extra``."""
    frame: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
    if client_id is not None:
        frame["client_id"] = client_id
    frame.update(extra)
    return orjson.dumps(frame)
