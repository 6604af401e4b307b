"""The process's logs: structlog's and the standard library's loggers, both at ``CXSTACK_LOG_LEVEL``.

Configured once where a command starts (``configure_logs``). Unconfigured, structlog renders every call,
``debug`` included, to standard output: a line per routed conversation at message rates, formatted on the
writer's thread.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

LEVELS: dict[str, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}
FORMAT = "%(asctime)s [%(levelname)s] %(name)s: %(message)s"


class _StandardError:
    """structlog's output: each line to the standard error of the moment (not the one there was when the
    logs were configured, which a test harness may have closed since)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = msg


class _StandardErrorHandler(logging.Handler):
    """The standard library's output, to the standard error of the moment."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # a log line must never fail what it reports on
            self.handleError(record)


def _standard_error(*_args: Any) -> _StandardError:
    return _StandardError()


def configure_logs(level: str) -> None:
    """Send both kinds of log lines at ``level`` and above to standard error, with time and level; calls
    below it cost a no-op method call. ``level``: one of ``LEVELS`` (the settings check it)."""
    number = LEVELS[level]
    # cxstack's own standard-library loggers; other libraries keep Python's default (warnings and worse).
    ours = logging.getLogger("cxstack")
    if not any(isinstance(handler, _StandardErrorHandler) for handler in ours.handlers):
        handler = _StandardErrorHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        ours.addHandler(handler)
    ours.setLevel(number)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=_standard_error,
        cache_logger_on_first_use=True,
    )
