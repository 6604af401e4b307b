"""Push through Firebase Cloud Messaging's HTTP v1 API, with the tenant's service account.

Authentication is Google's OAuth 2.0 service-account flow: a JWT assertion signed RS256 with the service
account's private key (``iss`` its client email, ``aud`` its ``token_uri``, ``scope`` FCM's) is exchanged
at ``token_uri`` (``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``) for an access token, reused
until shortly before it expires. Each device gets ``POST {api}/v1/projects/{project_id}/messages:send``
with ``{"message": {"token", "notification": {"title", "body"}, "data": {...}}}`` and ``Bearer`` auth.

FCM's answers: ``404 UNREGISTERED``, or ``400 INVALID_ARGUMENT`` about the token → DeviceUnregistered (the
device is forgotten); ``429`` and ``5xx`` → PushUnavailable (tried again, not before ``Retry-After``);
``401`` → a new access token, once; any other 4xx → PushRejected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
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

DEFAULT_API_URL = "https://fcm.googleapis.com"
#: Google's token endpoint, the ``token_uri`` of every service account; no other is called.
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: An access token is given up this long before it expires.
TOKEN_MARGIN_S = 300.0
ASSERTION_LIFETIME_S = 3600
_DEAD_TOKEN_CODES = {"UNREGISTERED"}


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    project_id: str
    client_email: str
    private_key_id: str
    private_key: str
    token_uri: str


def parse_service_account(text: str, *, token_url: str = DEFAULT_TOKEN_URL) -> ServiceAccount:
    """Return the service account of a Google service-account key file's JSON; raises ValueError naming
    what is wrong (not JSON, a missing field, a private key that is not an RSA key in PEM, a ``token_uri``
    other than ``token_url``: cxstack posts to no other address a tenant names)."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"the service account is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError("the service account is not a JSON object")
    if data.get("type") != "service_account":
        raise ValueError('the service account\'s "type" is not "service_account"')
    fields: dict[str, str] = {}
    for name in ("project_id", "client_email", "private_key", "token_uri"):
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f'the service account has no "{name}"')
        fields[name] = value
    if fields["token_uri"] != token_url:
        raise ValueError(f'the service account\'s "token_uri" is not {token_url}')
    try:
        key = load_pem_private_key(fields["private_key"].encode(), password=None)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f'the service account\'s "private_key" does not parse as a PEM key: {error}'
        ) from None
    if not isinstance(key, RSAPrivateKey):
        raise ValueError('the service account\'s "private_key" is not an RSA key')
    key_id = data.get("private_key_id")
    return ServiceAccount(
        project_id=fields["project_id"],
        client_email=fields["client_email"],
        private_key_id=key_id if isinstance(key_id, str) else "",
        private_key=fields["private_key"],
        token_uri=fields["token_uri"],
    )


def _error_of(response: httpx.Response) -> tuple[str, str, list[dict[str, Any]]]:
    """Return (status, message, details) of a Google API error body (empty when it is not one)."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200], []
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", "", []
    details = error.get("details")
    return (
        str(error.get("status", "")),
        str(error.get("message", "")),
        [d for d in details if isinstance(d, dict)] if isinstance(details, list) else [],
    )


def _is_dead_token(status_code: int, status: str, message: str, details: list[dict[str, Any]]) -> bool:
    codes = {str(d.get("errorCode", "")) for d in details}
    if codes & _DEAD_TOKEN_CODES or (status_code == 404 and status == "NOT_FOUND" and not codes):
        return True
    if status_code == 400 and (status == "INVALID_ARGUMENT" or "INVALID_ARGUMENT" in codes):
        about_token = any(
            violation.get("field") == "message.token"
            for detail in details
            for violation in (detail.get("fieldViolations") or [])
            if isinstance(violation, dict)
        )
        return about_token or "registration token" in message.lower()
    return False


class FcmPushProvider(PushProvider):
    """Sends each device its notification through FCM; ``credentials["service_account"]`` is the tenant's
    service-account key file (JSON). Access tokens are cached per service-account key."""

    name = "fcm"

    def __init__(
        self,
        *,
        api_url: str = DEFAULT_API_URL,
        token_url: str = DEFAULT_TOKEN_URL,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token_url = token_url
        self.timeout_s = timeout_s
        self.clock = clock
        #: (client email, key id, token uri) -> (access token, when it stops being used).
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    def assertion(self, account: ServiceAccount) -> str:
        """Return the signed JWT that asks ``account.token_uri`` for an access token to FCM."""
        now = int(self.clock())
        claims = {
            "iss": account.client_email,
            "scope": SCOPE,
            "aud": account.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_S,
        }
        headers = {"kid": account.private_key_id} if account.private_key_id else None
        return jwt.encode(claims, account.private_key, algorithm="RS256", headers=headers)

    async def access_token(
        self, http: httpx.AsyncClient, account: ServiceAccount, *, fresh: bool = False
    ) -> str:
        """Return an access token of ``account``, from the cache unless ``fresh``; raises PushRejected
        when the token endpoint refuses the account, PushUnavailable when it cannot answer."""
        cache_key = (account.client_email, account.private_key_id, account.token_uri)
        async with self._lock:
            cached = self._tokens.get(cache_key)
            if cached is not None and not fresh and cached[1] > self.clock():
                return cached[0]
            try:
                response = await http.post(
                    account.token_uri,
                    data={"grant_type": GRANT_TYPE, "assertion": self.assertion(account)},
                    headers={"Accept": "application/json"},
                )
            except httpx.HTTPError as error:
                raise PushUnavailable(f"Google's token endpoint could not be reached: {error}") from None
            if response.status_code == 429 or response.status_code >= 500:
                raise PushUnavailable(
                    f"Google's token endpoint answered {response.status_code}",
                    retry_after_s=retry_after_seconds(response.headers.get("retry-after")),
                )
            try:
                body = response.json()
            except ValueError:
                body = {}
            token = body.get("access_token") if isinstance(body, dict) else None
            if response.status_code != 200 or not isinstance(token, str):
                reason = body.get("error_description") or body.get("error") if isinstance(body, dict) else ""
                reason = reason or response.text[:200]
                raise PushRejected(f"Google refused the service account ({response.status_code}): {reason}")
            expires_in = float(body.get("expires_in", 3600))
            self._tokens[cache_key] = (token, self.clock() + max(0.0, expires_in - TOKEN_MARGIN_S))
            return token

    def message(self, notification: PushNotification, device: Device) -> dict[str, Any]:
        """Return the FCM v1 request body of ``notification`` for ``device``; an iOS device's also groups
        the conversation's notifications and plays the default sound, as a direct APNs push does."""
        message: dict[str, Any] = {
            "token": device.token,
            "notification": {"title": notification.title, "body": notification.body},
            "data": {
                "type": "inapp.reply",
                "conversation_id": notification.conversation_id,
                "message_id": notification.message_id,
                "user_id": notification.user_id,
            },
        }
        if device.platform == "ios":
            message["apns"] = {
                "payload": {"aps": {"sound": "default", "thread-id": notification.conversation_id}}
            }
        return {"message": message}

    async def send(self, notification: PushNotification) -> PushResult:
        """Push to each device in turn; returns the last FCM message name. Raises as the module says."""
        text = notification.credentials.get("service_account")
        if not text:
            raise PushRejected("the tenant has no FCM service account")
        try:
            account = parse_service_account(text, token_url=self.token_url)
        except ValueError as error:
            raise PushRejected(str(error)) from None
        url = f"{self.api_url}/v1/projects/{account.project_id}/messages:send"
        name = ""
        async with httpx.AsyncClient(timeout=self.timeout_s, trust_env=False) as http:
            for device in notification.devices:
                name = await self._send_one(http, account, url, notification, device)
        return PushResult(provider_id=name, delivered_to=len(notification.devices))

    async def _send_one(
        self,
        http: httpx.AsyncClient,
        account: ServiceAccount,
        url: str,
        notification: PushNotification,
        device: Device,
    ) -> str:
        body = orjson.dumps(self.message(notification, device))
        token = await self.access_token(http, account)
        for attempt in (1, 2):
            try:
                response = await http.post(
                    url,
                    content=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
            except httpx.HTTPError as error:
                raise PushUnavailable(f"FCM could not be reached: {error}") from None
            if response.status_code == 401 and attempt == 1:
                token = await self.access_token(http, account, fresh=True)
                continue
            break
        if response.status_code == 200:
            name = response.json().get("name", "")
            return str(name)
        status, message, details = _error_of(response)
        described = f"FCM answered {response.status_code} {status}: {message}".rstrip(": ")
        if response.status_code == 429 or response.status_code >= 500:
            raise PushUnavailable(
                described, retry_after_s=retry_after_seconds(response.headers.get("retry-after"))
            )
        if _is_dead_token(response.status_code, status, message, details):
            reason = next((str(d["errorCode"]) for d in details if d.get("errorCode")), status)
            raise DeviceUnregistered(described, device=device, reason=reason or "UNREGISTERED")
        raise PushRejected(described)
