"""What the in-process stand-ins for Twilio's REST APIs share: the server thread, HTTP basic auth with the
account SID and auth token, Twilio's error JSON, its form-encoded requests, and its webhook signature.

``tests/channels/sms/fake_twilio.py`` (Messaging) and ``tests/channels/voice/fake_twilio_calls.py``
(Voice) build their routes on these.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Generic, Protocol, TypeVar
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

API_VERSION = "2010-04-01"


def sign(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    """Twilio's request signature: HMAC-SHA1 over the URL and the sorted parameters, base64."""
    pairs = sorted(params)
    payload = url + "".join(f"{name}{value}" for name, value in pairs)
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def twilio_date() -> str:
    """Now as Twilio writes dates in its JSON (RFC 2822, +0000)."""
    return format_datetime(datetime.now(UTC).replace(microsecond=0), usegmt=False).replace("-0000", "+0000")


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    """Twilio's error JSON."""
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


def not_found(path: str) -> JSONResponse:
    return twilio_error(404, 20404, f"The requested resource {path} was not found")


def basic_auth(request: Request) -> tuple[str, str] | None:
    """The (username, password) of the request's HTTP basic auth, or None."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, _, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return None
    return username, password


class HasAccounts(Protocol):
    accounts: dict[str, str]
    lock: threading.Lock


def authenticated(state: HasAccounts, request: Request) -> tuple[str, str] | JSONResponse:
    """The request's credentials when they are the account's of the path (``account_sid``); else
    Twilio's 401 (code 20003)."""
    account_sid = request.path_params["account_sid"]
    credentials = basic_auth(request)
    with state.lock:
        token = state.accounts.get(account_sid)
    if credentials is None or credentials[0] != account_sid or token is None or credentials[1] != token:
        return twilio_error(401, 20003, "Authenticate")
    return credentials


async def read_form(request: Request) -> dict[str, str] | JSONResponse:
    """The request's form-encoded parameters (the first of each), or Twilio's 400 for another body."""
    if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
        return twilio_error(400, 20001, "Content-Type must be application/x-www-form-urlencoded")
    form: dict[str, str] = {}
    for name, value in parse_qsl((await request.body()).decode(), keep_blank_values=True):
        form.setdefault(name, value)
    return form


async def read_pairs(request: Request) -> list[tuple[str, str]]:
    """Every form parameter of the request, in order (a parameter Twilio takes repeatedly, such as
    ``StatusCallbackEvent``, once per value)."""
    return parse_qsl((await request.body()).decode(), keep_blank_values=True)


class HasUrl(Protocol):
    url: str


S = TypeVar("S", bound=HasUrl)


class FakeServer(Generic[S]):
    """Serve a fake's Starlette app with uvicorn on 127.0.0.1 in a thread; ``state.url`` is where."""

    def __init__(self, state: S, build_app: Callable[[S], Starlette]) -> None:
        self.state = state
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.state.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(build_app(self.state), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> S:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake Twilio did not start")
            time.sleep(0.01)
        return self.state

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()
