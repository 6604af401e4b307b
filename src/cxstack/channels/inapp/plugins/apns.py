"""Push through Apple's Push Notification service (APNs) with its HTTP/2 provider API and token-based
authentication.

The provider token is a JWT signed ES256 with the tenant's signing key (a ``.p8`` file from Apple's
developer account): header ``kid`` the key id, claims ``iss`` the team id and ``iat``. It is reused for up
to 50 minutes (Apple refuses one older than an hour, and tokens renewed too often). Each device gets
``POST /3/device/{token}`` over HTTP/2 with ``authorization: bearer <jwt>``, ``apns-topic`` (the app's
bundle id), ``apns-push-type: alert``, ``apns-priority``, ``apns-expiration`` and ``apns-collapse-id``, and
the body ``{"aps": {"alert": {"title", "body"}, "sound": "default", "thread-id": <conversation>}, ...}``.

APNs' answers: ``410 Unregistered`` or ``400 BadDeviceToken`` → DeviceUnregistered (the device is
forgotten); ``429`` and ``5xx`` → PushUnavailable (tried again); ``403 ExpiredProviderToken`` → a new
provider token, once; any other refusal → PushRejected.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from cxstack.channels.inapp.plugins.base import (
    Device,
    DeviceUnregistered,
    PushNotification,
    PushProvider,
    PushRejected,
    PushResult,
    PushUnavailable,
    retry_after_seconds,
)

PRODUCTION_URL = "https://api.push.apple.com"
SANDBOX_URL = "https://api.sandbox.push.apple.com"
#: A provider token is replaced after this long (Apple: between 20 and 60 minutes).
TOKEN_REUSE_S = 50 * 60
#: How long APNs keeps trying to deliver a notification to a device that is offline.
EXPIRATION_S = 24 * 3600
PRIORITY = "10"
_DEAD_TOKEN_REASONS = {"Unregistered", "BadDeviceToken"}


def check_signing_key(pem: str) -> None:
    """Raise ValueError naming the problem unless ``pem`` is an APNs signing key (P-256 private key)."""
    try:
        key = load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError) as error:
        raise ValueError(f"the APNs key does not parse as a PEM (.p8) private key: {error}") from None
    if not isinstance(key, EllipticCurvePrivateKey) or not isinstance(key.curve, SECP256R1):
        raise ValueError("the APNs key is not an ES256 (P-256) private key")


class ApnsPushProvider(PushProvider):
    """Sends each device its notification through APNs. ``credentials``: ``key_id``, ``team_id``,
    ``private_key`` (the .p8 PEM), ``topic`` (the default bundle id) and ``sandbox`` (``"true"`` for the
    development endpoint). Keeps one HTTP/2 connection per endpoint, as Apple asks."""

    name = "apns"

    def __init__(
        self,
        *,
        production_url: str = PRODUCTION_URL,
        sandbox_url: str = SANDBOX_URL,
        ca_file: str | None = None,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.production_url = production_url.rstrip("/")
        self.sandbox_url = sandbox_url.rstrip("/")
        self.ca_file = ca_file
        self.timeout_s = timeout_s
        self.clock = clock
        #: (team id, key id, key digest) -> (provider token, when it was issued).
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._http: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None or self._http.is_closed or self._loop is not loop:
            verify: ssl.SSLContext | bool = (
                ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True
            )
            self._http = httpx.AsyncClient(
                http1=False, http2=True, verify=verify, timeout=self.timeout_s, trust_env=False
            )
            self._loop = loop
        return self._http

    async def aclose(self) -> None:
        """Close the connection to APNs."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def provider_token(self, credentials: Mapping[str, str], *, fresh: bool = False) -> str:
        """Return the provider token of ``credentials``, reused for up to 50 minutes unless ``fresh``;
        raises PushRejected for credentials that are incomplete or a key that does not parse."""
        key_id, team_id, pem = (credentials.get(name, "") for name in ("key_id", "team_id", "private_key"))
        if not key_id or not team_id or not pem:
            raise PushRejected("the tenant's APNs key id, team id or key is missing")
        cache_key = (team_id, key_id, hashlib.sha256(pem.encode()).hexdigest())
        now = self.clock()
        cached = self._tokens.get(cache_key)
        if cached is not None and not fresh and now - cached[1] < TOKEN_REUSE_S:
            return cached[0]
        try:
            token = jwt.encode(
                {"iss": team_id, "iat": int(now)}, pem.strip(), algorithm="ES256", headers={"kid": key_id}
            )
        except (ValueError, TypeError, jwt.PyJWTError) as error:
            raise PushRejected(f"the tenant's APNs key cannot sign: {error}") from None
        self._tokens[cache_key] = (token, now)
        return token

    def payload(self, notification: PushNotification) -> dict[str, Any]:
        """Return the APNs JSON body of ``notification``."""
        return {
            "aps": {
                "alert": {"title": notification.title, "body": notification.body},
                "sound": "default",
                "thread-id": notification.conversation_id,
            },
            "type": "inapp.reply",
            "conversation_id": notification.conversation_id,
            "message_id": notification.message_id,
            "user_id": notification.user_id,
        }

    async def send(self, notification: PushNotification) -> PushResult:
        """Push to each device in turn; returns the last ``apns-id``. Raises as the module says."""
        credentials = notification.credentials
        base = self.sandbox_url if credentials.get("sandbox") == "true" else self.production_url
        body = orjson.dumps(self.payload(notification))
        apns_id = ""
        for device in notification.devices:
            apns_id = await self._send_one(base, body, notification, device)
        return PushResult(provider_id=apns_id, delivered_to=len(notification.devices))

    async def _send_one(self, base: str, body: bytes, notification: PushNotification, device: Device) -> str:
        topic = device.topic or notification.credentials.get("topic", "")
        if not topic:
            raise PushRejected("no APNs topic: set the tenant's apns_topic or register the device with one")
        apns_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"cxstack:{notification.message_id}:{device.token}"))
        headers = {
            "apns-topic": topic,
            "apns-push-type": "alert",
            "apns-priority": PRIORITY,
            "apns-expiration": str(int(self.clock()) + EXPIRATION_S),
            "apns-id": apns_id,
            "apns-collapse-id": notification.message_id[:64],
            "content-type": "application/json",
        }
        http = self._client()
        fresh = False
        for attempt in (1, 2):
            token = self.provider_token(notification.credentials, fresh=fresh)
            try:
                response = await http.post(
                    f"{base}/3/device/{quote(device.token, safe='')}",
                    content=body,
                    headers={**headers, "authorization": f"bearer {token}"},
                )
            except httpx.HTTPError as error:
                raise PushUnavailable(f"APNs could not be reached: {error!r}") from None
            reason = _reason_of(response)
            if response.status_code == 403 and reason == "ExpiredProviderToken" and attempt == 1:
                fresh = True
                continue
            break
        if response.status_code == 200:
            return str(response.headers.get("apns-id", apns_id))
        described = f"APNs answered {response.status_code} {reason}".rstrip()
        if response.status_code == 429 or response.status_code >= 500:
            raise PushUnavailable(
                described, retry_after_s=retry_after_seconds(response.headers.get("retry-after"))
            )
        if reason in _DEAD_TOKEN_REASONS:
            raise DeviceUnregistered(described, device=device, reason=reason)
        raise PushRejected(described)


def _reason_of(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("reason", "")) if isinstance(body, dict) else ""
