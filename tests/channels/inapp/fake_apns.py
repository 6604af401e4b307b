"""An in-process stand-in for Apple's Push Notification service, speaking its HTTP/2 provider API.

It serves HTTP/2 only (ALPN ``h2``) over TLS with a certificate of a throwaway certificate authority
(``trustme``), like APNs: ``POST /3/device/{token}`` with ``authorization: bearer <jwt>``, ``apns-topic``,
``apns-push-type``, ``apns-priority`` and ``apns-expiration``, and a JSON body with ``aps``. The provider
token is checked as Apple does: an ES256 signature by a registered key (header ``kid``), ``iss`` the key's
team, ``iat`` within the last hour. Answers are Apple's: 200 with ``apns-id``, or a status with
``{"reason": ...}`` (``BadDeviceToken``, ``Unregistered`` with a timestamp, ``ExpiredProviderToken``,
``InvalidProviderToken``, ``DeviceTokenNotForTopic``, ``MissingTopic``...).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import jwt
import orjson
import trustme
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

_TOKEN = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass
class ApnsRequest:
    authority: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    #: The team whose key signed the provider token, when it verified.
    team_id: str | None
    provider_token: str
    status: int


@dataclass
class ApnsKey:
    team_id: str
    public_key: EllipticCurvePublicKey
    topics: set[str]


@dataclass
class FakeApns:
    #: ``https://localhost:<port>`` (production) and ``https://127.0.0.1:<port>`` (sandbox): one server.
    url: str = ""
    sandbox_url: str = ""
    keys: dict[str, ApnsKey] = field(default_factory=dict)
    requests: list[ApnsRequest] = field(default_factory=list)
    #: Device tokens Apple no longer knows (410 Unregistered).
    unregistered: set[str] = field(default_factory=set)
    #: Provider tokens to answer ``403 ExpiredProviderToken`` as if an hour had passed.
    expired_tokens: set[str] = field(default_factory=set)
    #: (status, reason) to answer with, in turn, before any check.
    answers: list[tuple[int, str]] = field(default_factory=list)
    connections: int = 0
    #: Connections the client closed.
    closed: int = 0

    def add_key(self, key_id: str, team_id: str, public_key: EllipticCurvePublicKey, topic: str) -> None:
        self.keys[key_id] = ApnsKey(team_id, public_key, {topic})

    def delivered(self) -> list[ApnsRequest]:
        return [request for request in self.requests if request.status == 200]

    def answer(self, authority: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes]:
        """Return the status and body APNs would answer to this request (and record it)."""
        token = headers.get("authorization", "").removeprefix("bearer ")
        request = ApnsRequest(authority, path, headers, {}, None, token, 0)
        self.requests.append(request)
        status, reason = self._check(request, raw)
        request.status = status
        if status == 200:
            return 200, b""
        body: dict[str, Any] = {"reason": reason}
        if reason == "Unregistered":
            body["timestamp"] = int(time.time() * 1000)
        return status, orjson.dumps(body)

    def _check(self, request: ApnsRequest, raw: bytes) -> tuple[int, str]:
        if self.answers:
            return self.answers.pop(0)
        headers = request.headers
        if headers.get(":method") != "POST":
            return 405, "MethodNotAllowed"
        if not request.path.startswith("/3/device/"):
            return 404, "BadPath"
        if not request.provider_token:
            return 403, "MissingProviderToken"
        try:
            kid = jwt.get_unverified_header(request.provider_token).get("kid", "")
        except jwt.PyJWTError:
            return 403, "InvalidProviderToken"
        key = self.keys.get(kid)
        if key is None:
            return 403, "InvalidProviderToken"
        try:
            claims = jwt.decode(
                request.provider_token,
                key.public_key,
                algorithms=["ES256"],
                options={"require": ["iss", "iat"], "verify_iat": False},
            )
        except jwt.PyJWTError:
            return 403, "InvalidProviderToken"
        if claims["iss"] != key.team_id:
            return 403, "InvalidProviderToken"
        if request.provider_token in self.expired_tokens or claims["iat"] < time.time() - 3600:
            return 403, "ExpiredProviderToken"
        request.team_id = key.team_id
        topic = headers.get("apns-topic")
        if not topic:
            return 400, "MissingTopic"
        if topic not in key.topics:
            return 400, "TopicDisallowed"
        if headers.get("apns-push-type") not in {"alert", "background"}:
            return 400, "InvalidPushType"
        if headers.get("apns-priority") not in {None, "5", "10"}:
            return 400, "BadPriority"
        if not headers.get("apns-expiration", "0").isdigit():
            return 400, "BadExpirationDate"
        try:
            request.body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return 400, "PayloadEmpty" if not raw else "BadMessage"
        if not isinstance(request.body.get("aps"), dict):
            return 400, "BadMessage"
        device_token = request.path.removeprefix("/3/device/")
        if not _TOKEN.match(device_token):
            return 400, "BadDeviceToken"
        if device_token in self.unregistered:
            return 410, "Unregistered"
        return 200, ""


class ApnsServer:
    """Serves a FakeApns over HTTP/2 and TLS on 127.0.0.1 in the running event loop."""

    def __init__(self, state: FakeApns, ca: trustme.CA) -> None:
        self.state = state
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost", "127.0.0.1").configure_cert(self.context)
        self.context.set_alpn_protocols(["h2"])
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        port = self._server.sockets[0].getsockname()[1]
        self.state.url = f"https://localhost:{port}"
        self.state.sandbox_url = f"https://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
            return  # APNs speaks HTTP/2 only
        self.state.connections += 1
        conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        while True:
            data = await reader.read(65536)
            if not data:
                self.state.closed += 1
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    headers = {str(k): str(v) for k, v in event.headers}
                    streams[event.stream_id] = (headers, bytearray())
                elif isinstance(event, h2.events.DataReceived):
                    streams[event.stream_id][1].extend(event.data)
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    headers, body = streams.pop(event.stream_id)
                    status, answer = self.state.answer(
                        headers.get(":authority", ""), headers.get(":path", ""), headers, bytes(body)
                    )
                    response = [
                        (":status", str(status)),
                        ("apns-id", headers.get("apns-id", str(uuid.uuid4()))),
                    ]
                    if answer:
                        response.append(("content-type", "application/json"))
                    conn.send_headers(event.stream_id, response, end_stream=not answer)
                    if answer:
                        conn.send_data(event.stream_id, answer, end_stream=True)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    writer.write(conn.data_to_send())
                    return
            writer.write(conn.data_to_send())
            await writer.drain()
