"""The correlation id of a request, and the last resort that answers any unexpected error.

Every response carries ``X-Correlation-Id``: the caller's own ``X-Correlation-Id`` or ``X-Request-Id``
when it sent a usable one, else a new ULID. Problem responses repeat it as ``correlation_id``, the events
a request publishes carry it, and an unexpected error is logged with it, so an answer can be found in the
log. An unexpected error answers 500 problem+json, never a bare text page.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cxstack.kit.ids import new_ulid

HEADER = "X-Correlation-Id"
_INCOMING = (b"x-correlation-id", b"x-request-id")
# Ids are echoed in headers and logs: printable, no spaces, bounded.
_USABLE = re.compile(r"[A-Za-z0-9._:\-]{1,64}")

log = logging.getLogger("cxstack.web")

_current: ContextVar[str | None] = ContextVar("cxstack_correlation_id", default=None)


def current_correlation_id() -> str | None:
    """The correlation id of the request being answered, or None outside one."""
    return _current.get()


def _incoming_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name in _INCOMING:
            text = bytes(value).decode("latin-1").strip()
            if _USABLE.fullmatch(text):
                return text
    return new_ulid()


class CorrelationMiddleware:
    """Give each request its correlation id; answer an exception nobody handled with a 500 problem."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        correlation_id = _incoming_id(scope)
        token = _current.set(correlation_id)
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        started = False
        header = (HEADER.lower().encode(), correlation_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id if scope["type"] == "http" else send)
        except Exception:
            log.exception(
                "unhandled error answering %s %s [correlation_id=%s]",
                scope.get("method", "WEBSOCKET"),
                scope.get("path", ""),
                correlation_id,
                extra={"correlation_id": correlation_id},
            )
            if scope["type"] != "http" or started:
                raise
            # Imported here: problems imports this module for the id.
            from cxstack.web.problems import internal_error

            response = internal_error(scope.get("path", ""))
            await response(scope, receive, send_with_id)
        finally:
            _current.reset(token)
