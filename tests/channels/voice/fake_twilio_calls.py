"""An in-process stand-in for Twilio's Voice REST API (the call update), speaking its wire format.

``POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` takes a form-encoded ``Twiml`` (or
``Url``, or ``Status``) with HTTP basic auth (AccountSid : AuthToken) and answers 200 with Twilio's call
resource JSON, or Twilio's error JSON: 401/20003 for bad credentials, 404/20404 for a call it does not
know, 400/21220 for a call that is no longer in progress, 400/12100 for TwiML that does not parse.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl
from xml.etree.ElementTree import Element, ParseError, fromstring

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class CallUpdate:
    account_sid: str
    call_sid: str
    form: dict[str, str]
    username: str
    password: str

    def twiml(self) -> Element:
        return fromstring(self.form["Twiml"])


@dataclass
class FakeCall:
    account_sid: str
    from_number: str
    to_number: str
    status: str = "in-progress"


@dataclass
class FakeTwilioCalls:
    accounts: dict[str, str] = field(default_factory=dict)
    calls: dict[str, FakeCall] = field(default_factory=dict)
    updates: list[CallUpdate] = field(default_factory=list)
    #: (status, code, message) to answer the next updates with.
    failures: list[tuple[int, int, str]] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_account(self, account_sid: str, auth_token: str) -> None:
        with self.lock:
            self.accounts[account_sid] = auth_token

    def add_call(self, call_sid: str, *, account_sid: str, from_number: str, to_number: str) -> None:
        with self.lock:
            self.calls[call_sid] = FakeCall(account_sid, from_number, to_number)

    def end_call(self, call_sid: str) -> None:
        with self.lock:
            self.calls[call_sid].status = "completed"

    def fail_next(self, status: int, code: int, message: str) -> None:
        with self.lock:
            self.failures.append((status, code, message))

    def reset(self) -> None:
        with self.lock:
            self.accounts.clear()
            self.calls.clear()
            self.updates.clear()
            self.failures.clear()

    def received(self) -> list[CallUpdate]:
        with self.lock:
            return list(self.updates)


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


def _basic_auth(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, _, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return None
    return username, password


def _resource(account_sid: str, call_sid: str, call: FakeCall) -> dict[str, Any]:
    uri = f"/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json"
    return {
        "sid": call_sid,
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "direction": "inbound",
        "from": call.from_number,
        "to": call.to_number,
        "status": call.status,
        "duration": None,
        "parent_call_sid": None,
        "uri": uri,
    }


def build_app(state: FakeTwilioCalls) -> Starlette:
    async def update_call(request: Request) -> JSONResponse:
        account_sid = request.path_params["account_sid"]
        call_sid = request.path_params["call_sid"]
        credentials = _basic_auth(request)
        with state.lock:
            token = state.accounts.get(account_sid)
        if credentials is None or credentials[0] != account_sid or credentials[1] != token:
            return _error(401, 20003, "Authenticate")
        if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return _error(400, 20001, "Content-Type must be application/x-www-form-urlencoded")
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        with state.lock:
            failure = state.failures.pop(0) if state.failures else None
            call = state.calls.get(call_sid)
        if failure is not None:
            return _error(*failure)
        if call is None or call.account_sid != account_sid:
            return _error(
                404,
                20404,
                f"The requested resource /2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json "
                "was not found",
            )
        if call.status != "in-progress":
            return _error(400, 21220, "Call is not in-progress. Cannot redirect.")
        if "Twiml" in form:
            try:
                root = fromstring(form["Twiml"])
            except ParseError:
                return _error(400, 12100, "Document parse failure")
            if root.tag != "Response":
                return _error(400, 12102, "The root element must be Response")
        elif not form.get("Url") and not form.get("Status"):
            return _error(400, 21205, "Url, Twiml or Status is required")
        with state.lock:
            state.updates.append(CallUpdate(account_sid, call_sid, form, *credentials))
            if form.get("Status") == "completed":
                call.status = "completed"
            answer = _resource(account_sid, call_sid, call)
        return JSONResponse(answer, status_code=200)

    return Starlette(
        routes=[
            Route("/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json", update_call, methods=["POST"])
        ]
    )


class FakeTwilioCallsServer:
    """Serve a ``FakeTwilioCalls`` with uvicorn on 127.0.0.1 in a thread."""

    def __init__(self) -> None:
        self.state = FakeTwilioCalls()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.state.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(build_app(self.state), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> FakeTwilioCalls:
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
