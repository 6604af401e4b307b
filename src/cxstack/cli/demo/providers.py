"""The demo's stand-ins for the providers cxstack talks to, so that every channel of ``cxstack demo`` can be
tried on one machine without an account anywhere.

``cxstack demo`` (and nothing else) starts them in its own process and points the channels' settings at them
(``DemoProviders.environment``):

- a small Twilio REST API (``CXSTACK_SMS_TWILIO_API_URL``, ``CXSTACK_VOICE_TWILIO_API_URL``) that speaks
  Twilio's wire format: form-encoded requests with HTTP basic auth (the demo number's account SID and auth
  token), Twilio's JSON answers and error JSON. It accepts message sends (``Messages.json``) and, when the
  send asks for them, reports ``sent`` then ``delivered`` to its ``StatusCallback``, signed as Twilio signs;
  it accepts outgoing calls, call updates, conference participants and recordings' fetches and deletes;
- an SMTP server that takes every reply the email channel sends (``CXSTACK_SMTP_RELAY_HOST``/``_PORT``, no
  TLS) and keeps it.

Nothing reaches a phone or a mailbox: each accepted send is recorded (``sms``, ``calls``, ``emails``) and
reported through ``on_send`` (the demo prints it). Nobody but the demo tenant's number can use them: the
account SID and auth token are the demo's own, printed and public.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email
import email.policy
import logging
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl

import httpx
import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cxstack.channels.twilio.signatures import compute_signature

log = logging.getLogger(__name__)

#: The demo number's Twilio account: fixed, printed and public (the demo's Twilio accepts nothing else).
DEMO_TWILIO_ACCOUNT_SID = "AC" + "dec0de" + "0" * 26
DEMO_TWILIO_AUTH_TOKEN = "demo_twilio_token_not_a_secret"
API_VERSION = "2010-04-01"
#: How long after accepting a message the demo's Twilio reports it ``sent``, then ``delivered``.
STATUS_DELAY_S = 0.3
#: What the demo's Twilio answers for a recording's media: a few bytes that are an MP3 frame header.
RECORDING_BYTES = b"\xff\xfb\x90\x64" + b"\x00" * 413
_BASIC_CREDENTIALS = base64.b64encode(f"{DEMO_TWILIO_ACCOUNT_SID}:{DEMO_TWILIO_AUTH_TOKEN}".encode()).decode()


@dataclass(frozen=True)
class SentSms:
    sid: str
    from_number: str
    to_number: str
    body: str


@dataclass(frozen=True)
class PlacedCall:
    sid: str
    from_number: str
    to_number: str


@dataclass(frozen=True)
class SentEmail:
    mail_from: str
    recipients: tuple[str, ...]
    subject: str
    raw: bytes


def _twilio_date() -> str:
    return format_datetime(datetime.now(UTC).replace(microsecond=0)).replace("-0000", "+0000")


def _error(status: int, code: int, message: str) -> JSONResponse:
    """Twilio's error JSON."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status)


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class _Sent:
    sms: list[SentSms] = field(default_factory=list)
    calls: list[PlacedCall] = field(default_factory=list)
    emails: list[SentEmail] = field(default_factory=list)


class DemoTwilio:
    """The demo's Twilio REST API: a Starlette app (``app``) over the demo account alone."""

    def __init__(self, *, on_send: Callable[[str], None], sent: _Sent) -> None:
        self.on_send = on_send
        self.sent = sent
        self._callbacks: set[asyncio.Task[None]] = set()
        base = f"/{API_VERSION}/Accounts/{{account_sid}}"
        self.app = Starlette(
            routes=[
                Route(f"{base}/Messages.json", self.create_message, methods=["POST"]),
                Route(f"{base}/Calls.json", self.create_call, methods=["POST"]),
                Route(f"{base}/Calls/{{call_sid}}.json", self.update_call, methods=["POST"]),
                Route(
                    f"{base}/Conferences/{{conference}}/Participants.json",
                    self.add_participant,
                    methods=["POST"],
                ),
                Route(
                    f"{base}/Conferences/{{conference}}/Participants/{{participant}}.json",
                    self.change_participant,
                    methods=["POST", "DELETE"],
                ),
                Route(f"{base}/Recordings/{{recording}}", self.recording, methods=["GET", "DELETE"]),
            ]
        )

    async def _form(self, request: Request) -> dict[str, str] | JSONResponse:
        """The request's form when it is the demo account's and form-encoded; else Twilio's error."""
        if request.path_params["account_sid"] != DEMO_TWILIO_ACCOUNT_SID:
            return _error(404, 20404, f"The requested resource {request.url.path} was not found")
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or encoded.strip() != _BASIC_CREDENTIALS:
            return _error(401, 20003, "Authenticate")
        if request.method in ("GET", "DELETE"):
            return {}
        if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return _error(400, 20001, "Content-Type must be application/x-www-form-urlencoded")
        form: dict[str, str] = {}
        for name, value in parse_qsl((await request.body()).decode(), keep_blank_values=True):
            form.setdefault(name, value)
        return form

    async def create_message(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        for name, code in (("To", 21604), ("From", 21603), ("Body", 21602)):
            if not form.get(name, "").strip():
                return _error(400, code, f"A '{name}' is required.")
        sid = _sid("SM")
        self.sent.sms.append(SentSms(sid, form["From"], form["To"], form["Body"]))
        self.on_send(f"SMS {form['From']} → {form['To']}: {form['Body']}")
        callback = form.get("StatusCallback")
        if callback:
            task = asyncio.create_task(self._report_delivery(callback, sid, form["From"], form["To"]))
            self._callbacks.add(task)
            task.add_done_callback(self._callbacks.discard)
        now = _twilio_date()
        return JSONResponse(
            {
                "sid": sid,
                "account_sid": DEMO_TWILIO_ACCOUNT_SID,
                "to": form["To"],
                "from": form["From"],
                "body": form["Body"],
                "status": "queued",
                "num_segments": "1",
                "direction": "outbound-api",
                "api_version": API_VERSION,
                "date_created": now,
                "date_updated": now,
                "error_code": None,
                "error_message": None,
                "uri": f"/{API_VERSION}/Accounts/{DEMO_TWILIO_ACCOUNT_SID}/Messages/{sid}.json",
            },
            status_code=201,
        )

    async def _report_delivery(self, url: str, sid: str, from_number: str, to_number: str) -> None:
        """Post ``sent`` then ``delivered`` to the message's status callback, signed as Twilio signs."""
        async with httpx.AsyncClient(timeout=10) as http:
            for status in ("sent", "delivered"):
                await asyncio.sleep(STATUS_DELAY_S)
                form = {
                    "MessageSid": sid,
                    "SmsSid": sid,
                    "AccountSid": DEMO_TWILIO_ACCOUNT_SID,
                    "From": from_number,
                    "To": to_number,
                    "MessageStatus": status,
                    "ApiVersion": API_VERSION,
                }
                signature = compute_signature(url, list(form.items()), DEMO_TWILIO_AUTH_TOKEN)
                try:
                    await http.post(url, data=form, headers={"X-Twilio-Signature": signature})
                except httpx.HTTPError as error:
                    log.warning("the demo's Twilio could not report %s to %s: %r", status, url, error)
                    return

    async def create_call(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        for name, code in (("To", 21201), ("From", 21213), ("Url", 21205)):
            if not form.get(name, "").strip():
                return _error(400, code, f"A '{name}' is required.")
        sid = _sid("CA")
        self.sent.calls.append(PlacedCall(sid, form["From"], form["To"]))
        self.on_send(f"call {form['From']} → {form['To']} (nobody answers: it is the demo)")
        return JSONResponse(
            {
                "sid": sid,
                "account_sid": DEMO_TWILIO_ACCOUNT_SID,
                "to": form["To"],
                "from": form["From"],
                "status": "queued",
                "direction": "outbound-api",
                "api_version": API_VERSION,
                "date_created": _twilio_date(),
            },
            status_code=201,
        )

    async def update_call(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        call_sid = request.path_params["call_sid"]
        return JSONResponse(
            {"sid": call_sid, "account_sid": DEMO_TWILIO_ACCOUNT_SID, "status": "in-progress"}
        )

    async def add_participant(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        if not form.get("From") or not form.get("To"):
            return _error(400, 21201, "A 'From' and a 'To' are required.")
        self.on_send(f"conference {request.path_params['conference']}: dialling {form['To']}")
        return JSONResponse(
            {
                "account_sid": DEMO_TWILIO_ACCOUNT_SID,
                "call_sid": _sid("CA"),
                "conference_sid": _sid("CF"),
                "label": form.get("Label"),
                "hold": False,
                "muted": False,
                "status": "queued",
            },
            status_code=201,
        )

    async def change_participant(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        if request.method == "DELETE":
            return Response(status_code=204)
        return JSONResponse(
            {
                "account_sid": DEMO_TWILIO_ACCOUNT_SID,
                "call_sid": request.path_params["participant"],
                "hold": form.get("Hold", "false").lower() == "true",
                "status": "connected",
            }
        )

    async def recording(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        if request.method == "DELETE":
            return Response(status_code=204)
        return Response(RECORDING_BYTES, media_type="audio/mpeg")

    async def aclose(self) -> None:
        for task in list(self._callbacks):
            task.cancel()
        for task in list(self._callbacks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _SinkHandler:
    """aiosmtpd handler: every message is accepted and kept."""

    def __init__(self, *, on_send: Callable[[str], None], sent: _Sent) -> None:
        self.on_send = on_send
        self.sent = sent

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        subject = str(email.message_from_bytes(raw, policy=email.policy.default).get("Subject", ""))
        recipients = tuple(envelope.rcpt_tos)
        self.sent.emails.append(SentEmail(envelope.mail_from or "", recipients, subject, raw))
        self.on_send(f"email {envelope.mail_from} → {', '.join(recipients)}: {subject}")
        return "250 2.0.0 Message accepted (the cxstack demo keeps it)"


def _ignore(line: str) -> None:
    return None


class DemoProviders:
    """The demo's Twilio and outgoing SMTP server, on 127.0.0.1 at ports of their own, on the running loop.

    ``start`` them, point cxstack at them with ``environment``, ``stop`` them at the end. What they accepted
    is in ``sms``, ``calls`` and ``emails``; ``on_send`` hears a line for each.
    """

    def __init__(self, *, on_send: Callable[[str], None] = _ignore, host: str = "127.0.0.1") -> None:
        self.host = host
        self._sent = _Sent()
        self.twilio = DemoTwilio(on_send=on_send, sent=self._sent)
        self._sink = _SinkHandler(on_send=on_send, sent=self._sent)
        self._http: uvicorn.Server | None = None
        self._http_socket: socket.socket | None = None
        self._smtp: asyncio.Server | None = None
        self.twilio_url = ""
        self.smtp_port = 0

    @property
    def sms(self) -> list[SentSms]:
        return self._sent.sms

    @property
    def calls(self) -> list[PlacedCall]:
        return self._sent.calls

    @property
    def emails(self) -> list[SentEmail]:
        return self._sent.emails

    async def start(self) -> None:
        """Listen on two free ports of ``host``; raises OSError when that fails."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self._http_socket = sock
        config = uvicorn.Config(self.twilio.app, log_level="warning", lifespan="off", access_log=False)
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        self._http = server
        self.twilio_url = f"http://{self.host}:{sock.getsockname()[1]}"
        loop = asyncio.get_running_loop()
        sink = self._sink
        self._smtp = await loop.create_server(
            lambda: SMTP(sink, hostname="cxstack-demo-smtp"), host=self.host, port=0
        )
        self.smtp_port = self._smtp.sockets[0].getsockname()[1]

    def environment(self, *, public_url: str | None) -> dict[str, str]:
        """The settings that point cxstack's channels at these providers; with ``public_url`` (where this
        cxstack is served), the demo's Twilio reports message statuses back to it."""
        env = {
            "CXSTACK_SMS_TWILIO_API_URL": self.twilio_url,
            "CXSTACK_VOICE_TWILIO_API_URL": self.twilio_url,
            "CXSTACK_SMTP_RELAY_HOST": self.host,
            "CXSTACK_SMTP_RELAY_PORT": str(self.smtp_port),
            "CXSTACK_SMTP_RELAY_SECURITY": "none",
        }
        if public_url is not None:
            env["CXSTACK_SMS_PUBLIC_URL"] = public_url
            env["CXSTACK_VOICE_PUBLIC_URL"] = public_url
        return env

    async def stop(self) -> None:
        await self.twilio.aclose()
        if self._http is not None:
            self._http.should_exit = True
            await self._http.shutdown(sockets=[self._http_socket] if self._http_socket else None)
            self._http = None
        if self._http_socket is not None:
            self._http_socket.close()
            self._http_socket = None
        if self._smtp is not None:
            self._smtp.close()
            await self._smtp.wait_closed()
            self._smtp = None
