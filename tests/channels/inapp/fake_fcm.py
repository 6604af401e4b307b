"""An in-process stand-in for Google's OAuth 2.0 token endpoint and Firebase Cloud Messaging's HTTP v1 API.

``POST /token`` takes ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and a JWT ``assertion``,
checked as Google does: signed RS256 by the service account's key (header ``kid``), ``iss`` the account's
email, ``aud`` this token URI, a ``scope``, and at most an hour between ``iat`` and ``exp``. It answers
``{"access_token", "expires_in", "token_type": "Bearer"}`` or ``{"error": "invalid_grant", ...}``.

``POST /v1/projects/{project}/messages:send`` takes ``{"message": {...}}`` with ``Bearer`` auth by a token
issued for an account of that project, and answers ``{"name": "projects/{project}/messages/{id}"}`` or
Google's error JSON (``{"error": {"code", "message", "status", "details": [FcmError, BadRequest]}}``).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


@dataclass
class Account:
    project_id: str
    client_email: str
    key_id: str
    public_key: RSAPublicKey


@dataclass
class FcmMessage:
    project_id: str
    #: The service account whose access token authorised the send.
    client_email: str
    message: dict[str, Any]
    status: int


@dataclass
class FakeGoogle:
    url: str = ""
    accounts: dict[str, Account] = field(default_factory=dict)
    #: access token -> (client email, expiry).
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    token_requests: int = 0
    messages: list[FcmMessage] = field(default_factory=list)
    #: Registration tokens FCM no longer knows (404 UNREGISTERED) or never issued (400 INVALID_ARGUMENT).
    unregistered: set[str] = field(default_factory=set)
    invalid: set[str] = field(default_factory=set)
    #: (status, Retry-After) to answer messages:send with, in turn, once authorised.
    answers: list[tuple[int, str | None]] = field(default_factory=list)

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def service_account(self, project_id: str = "acme-app") -> dict[str, str]:
        """Make a service account of ``project_id`` with a fresh RSA key; return its key file's JSON."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = secrets.token_hex(20)
        email = f"push-{secrets.token_hex(3)}@{project_id}.iam.gserviceaccount.com"
        self.accounts[email] = Account(project_id, email, key_id, key.public_key())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": "1234567890",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
        }

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def delivered(self) -> list[FcmMessage]:
        return [m for m in self.messages if m.status == 200]

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        form = await request.form()
        if form.get("grant_type") != GRANT_TYPE:
            return _oauth_error("unsupported_grant_type", "Invalid grant_type")
        assertion = str(form.get("assertion", ""))
        try:
            header = jwt.get_unverified_header(assertion)
            issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss", "")
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant", "Invalid JWT: not a JWT")
        account = self.accounts.get(issuer)
        if account is None or header.get("kid") not in (None, account.key_id):
            return _oauth_error("invalid_grant", "Invalid JWT Signature.")
        try:
            claims = jwt.decode(
                assertion,
                account.public_key,
                algorithms=["RS256"],
                audience=self.token_uri,
                issuer=account.client_email,
                options={"require": ["iss", "aud", "iat", "exp", "scope"]},
            )
        except jwt.PyJWTError as error:
            return _oauth_error("invalid_grant", f"Invalid JWT: {error}")
        if claims["exp"] - claims["iat"] > 3600 or SCOPE not in str(claims["scope"]).split():
            return _oauth_error("invalid_scope", "Invalid JWT: lifetime or scope")
        access_token = "ya29." + secrets.token_urlsafe(32)
        self.tokens[access_token] = (account.client_email, time.time() + 3599)
        return JSONResponse({"access_token": access_token, "expires_in": 3599, "token_type": "Bearer"})

    async def send(self, request: Request) -> Response:
        project_id = request.path_params["project"]
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        issued = self.tokens.get(bearer)
        if issued is None or issued[1] < time.time():
            return _google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        account = self.accounts[issued[0]]
        if account.project_id != project_id:
            return _google_error(403, "PERMISSION_DENIED", "Permission denied on the project.")
        body = orjson.loads(await request.body())
        message = body.get("message") if isinstance(body, dict) else None
        record = FcmMessage(project_id, account.client_email, message or {}, 0)
        self.messages.append(record)
        answer = self._check(message, project_id)
        record.status = answer.status_code
        return answer

    def _check(self, message: Any, project_id: str) -> Response:
        if self.answers:
            status, retry_after = self.answers.pop(0)
            headers = {"Retry-After": retry_after} if retry_after else None
            return _google_error(
                status, "UNAVAILABLE", "The service is currently unavailable.", headers=headers
            )
        if not isinstance(message, dict) or not isinstance(message.get("token"), str):
            return _google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
        data = message.get("data", {})
        if not all(isinstance(value, str) for value in data.values()):
            return _google_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.data': not a string.")
        notification = message.get("notification", {})
        if set(notification) - {"title", "body", "image"}:
            return _google_error(400, "INVALID_ARGUMENT", "Unknown name in 'message.notification'.")
        token = message["token"]
        if token in self.unregistered:
            return _google_error(
                404, "NOT_FOUND", "Requested entity was not found.", details=[_fcm_error("UNREGISTERED")]
            )
        if token in self.invalid:
            violation = {
                "@type": BAD_REQUEST,
                "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}],
            }
            return _google_error(
                400,
                "INVALID_ARGUMENT",
                "The registration token is not a valid FCM registration token",
                details=[_fcm_error("INVALID_ARGUMENT"), violation],
            )
        return JSONResponse({"name": f"projects/{project_id}/messages/0:{secrets.token_hex(8)}"})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", self.send, methods=["POST"]),
            ]
        )


def _fcm_error(code: str) -> dict[str, str]:
    return {"@type": FCM_ERROR, "errorCode": code}


def _google_error(
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    error = {"error": {"code": status, "message": message, "status": code, "details": details or []}}
    return JSONResponse(error, status_code=status, headers=headers)


def _oauth_error(error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)
