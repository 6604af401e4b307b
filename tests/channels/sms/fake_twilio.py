"""An in-process stand-in for Twilio's Messaging REST API, speaking its wire format.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` takes a form-encoded ``To``/``From``/``Body``
(``StatusCallback`` optional) with HTTP basic auth (AccountSid : AuthToken), and answers 201 with Twilio's
message resource JSON, or Twilio's error JSON (``code``, ``message``, ``more_info``, ``status``). It records
every request it received and can be told to fail the next requests.

``sign`` computes ``X-Twilio-Signature`` as Twilio's servers do, for tests that post webhooks.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.channels.twilio_fake import (
    FakeServer,
    authenticated,
    new_sid,
    read_form,
    sign,
    twilio_date,
    twilio_error,
)

__all__ = ["FakeTwilio", "FakeTwilioServer", "new_sid", "sign", "status_params"]


@dataclass
class ReceivedMessage:
    account_sid: str
    form: dict[str, str]
    username: str
    password: str
    sid: str


@dataclass
class Failure:
    status: int
    code: int
    message: str


@dataclass
class FakeTwilio:
    """The fake's state: known accounts, what it received, the failures still to give."""

    accounts: dict[str, str] = field(default_factory=dict)
    received: list[ReceivedMessage] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    #: Sids to give the next accepted messages (fresh random ones once these run out).
    next_sids: list[str] = field(default_factory=list)
    #: How long each send takes to answer (a slow Twilio), and when each accepted send was answered.
    delay_s: float = 0.0
    answered_at: list[float] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_account(self, account_sid: str, auth_token: str) -> None:
        with self.lock:
            self.accounts[account_sid] = auth_token

    def fail_next(self, status: int, code: int, message: str, *, times: int = 1) -> None:
        """Answer the next ``times`` sends with Twilio's error JSON instead of sending."""
        with self.lock:
            self.failures.extend(Failure(status, code, message) for _ in range(times))

    def reset(self) -> None:
        with self.lock:
            self.accounts.clear()
            self.received.clear()
            self.failures.clear()
            self.next_sids.clear()
            self.answered_at.clear()
            self.delay_s = 0.0

    def sent(self) -> list[dict[str, str]]:
        """The forms of the messages accepted so far, in order."""
        with self.lock:
            return [m.form for m in self.received]

    def sids(self) -> list[str]:
        with self.lock:
            return [m.sid for m in self.received]


def build_app(state: FakeTwilio) -> Starlette:
    async def create_message(request: Request) -> JSONResponse:
        account_sid = request.path_params["account_sid"]
        credentials = authenticated(state, request)
        if isinstance(credentials, JSONResponse):
            return credentials
        form = await read_form(request)
        if isinstance(form, JSONResponse):
            return form
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        with state.lock:
            failure = state.failures.pop(0) if state.failures else None
        if failure is not None:
            return twilio_error(failure.status, failure.code, failure.message)
        if not form.get("To"):
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not form.get("From"):
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body") and not form.get("MediaUrl"):
            return twilio_error(400, 21602, "Message body is required.")
        with state.lock:
            sid = state.next_sids.pop(0) if state.next_sids else new_sid("SM")
            state.received.append(ReceivedMessage(account_sid, form, *credentials, sid=sid))
            state.answered_at.append(time.monotonic())
        now = twilio_date()
        uri = f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json"
        return JSONResponse(
            {
                "account_sid": account_sid,
                "api_version": "2010-04-01",
                "body": form["Body"],
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": form["From"],
                "messaging_service_sid": None,
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "queued",
                "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
                "to": form["To"],
                "uri": uri,
            },
            status_code=201,
        )

    return Starlette(
        routes=[
            Route("/2010-04-01/Accounts/{account_sid}/Messages.json", create_message, methods=["POST"]),
        ]
    )


class FakeTwilioServer(FakeServer[FakeTwilio]):
    """Serve a ``FakeTwilio`` with uvicorn on 127.0.0.1 in a thread."""

    def __init__(self) -> None:
        super().__init__(FakeTwilio(), build_app)


def status_params(
    sent: dict[str, str], *, sid: str, account_sid: str, status: str, **extra: Any
) -> list[tuple[str, str]]:
    """The form Twilio posts to a message's StatusCallback."""
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": account_sid,
        "From": sent["From"],
        "To": sent["To"],
        "MessageStatus": status,
        "SmsStatus": status,
        "ApiVersion": "2010-04-01",
        **{key: str(value) for key, value in extra.items()},
    }
    return list(params.items())
