"""An in-process OpenID Connect provider speaking the wire format cxstack's OIDC sign-in uses.

``GET /.well-known/openid-configuration``: the discovery document (issuer, endpoints, the client
authentication it takes: ``client_secret_basic`` or ``client_secret_post``). ``GET /jwks``: its public
key (RSA, generated at start). ``GET /authorize``: checks ``response_type=code``, the client, its
registered redirect URI and an S256 PKCE challenge, then approves ``person`` at once and redirects back
with ``code`` and ``state`` (or ``error`` when ``deny`` is set). ``POST /token``: the authorization code
grant as RFC 6749 and 7636 say: client authentication by the advertised method, the code once, the same
``redirect_uri``, the verifier matching the challenge; answers an ID token signed RS256 with ``iss``,
``sub``, ``aud``, ``exp``, ``iat``, ``nonce``, ``email``, ``email_verified`` and ``name``, or
``{"error": ...}``. ``id_token_changes`` alters the next ID tokens' claims (an audience of another
client, an expired token); ``sign_with`` signs them with another key.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class Client:
    secret: str
    redirect_uris: list[str]


@dataclass
class IssuedCode:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    claims: dict[str, Any]


@dataclass
class FakeOidcProvider:
    url: str = ""
    clients: dict[str, Client] = field(default_factory=dict)
    #: The person the authorize endpoint approves: their claims.
    person: dict[str, Any] = field(default_factory=dict)
    #: ``client_secret_basic`` or ``client_secret_post``: what discovery advertises and the token endpoint
    #: takes.
    auth_method: str = "client_secret_basic"
    #: An OAuth error the authorize endpoint redirects back with instead of a code.
    deny: str | None = None
    #: Claims the next ID tokens get (or lose, for a None value).
    id_token_changes: dict[str, Any] = field(default_factory=dict)
    #: A key ID tokens are signed with instead of the published one.
    sign_with: RSAKey | None = None
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "key-1"}))
    codes: dict[str, IssuedCode] = field(default_factory=dict)
    discovery_requests: int = 0
    token_requests: list[dict[str, str]] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return self.url

    def register(self, client_id: str, secret: str, redirect_uri: str) -> None:
        self.clients[client_id] = Client(secret, [redirect_uri])

    def id_token(self, issued: IssuedCode) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": issued.client_id,
            "iat": now,
            "exp": now + 300,
            **issued.claims,
        }
        if issued.nonce is not None:
            claims["nonce"] = issued.nonce
        for name, value in self.id_token_changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = self.sign_with or self.key
        return jwt.encode({"alg": "RS256", "kid": "key-1"}, claims, key)


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _client_of(provider: FakeOidcProvider, request: Request, form: dict[str, str]) -> str | None:
    """The client the request authenticates as, by the advertised method; None when it does not."""
    if provider.auth_method == "client_secret_basic":
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return None
        decoded = base64.b64decode(header[6:]).decode()
        client_id, _, secret = decoded.partition(":")
        client_id, secret = unquote(client_id), unquote(secret)
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    client = provider.clients.get(client_id)
    if client is None or not secrets.compare_digest(client.secret, secret):
        return None
    return client_id


def build_app(provider: FakeOidcProvider) -> Starlette:
    async def discovery(request: Request) -> Response:
        provider.discovery_requests += 1
        return JSONResponse(
            {
                "issuer": provider.issuer,
                "authorization_endpoint": f"{provider.url}/authorize",
                "token_endpoint": f"{provider.url}/token",
                "jwks_uri": f"{provider.url}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [provider.auth_method],
                "scopes_supported": ["openid", "email", "profile"],
            }
        )

    async def jwks(request: Request) -> Response:
        public = provider.key.as_dict(private=False)
        return JSONResponse({"keys": [{**public, "use": "sig", "alg": "RS256"}]})

    async def authorize(request: Request) -> Response:
        query = request.query_params
        client = provider.clients.get(query.get("client_id", ""))
        redirect_uri = query.get("redirect_uri", "")
        if client is None or redirect_uri not in client.redirect_uris:
            # Never redirect to an address the client did not register.
            return _oauth_error("invalid_request", "unknown client or redirect_uri")
        back: dict[str, str] = {"state": query.get("state", "")}
        if provider.deny is not None:
            back["error"] = provider.deny
            back["error_description"] = "The person declined."
        elif query.get("response_type") != "code":
            back["error"] = "unsupported_response_type"
        elif query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            back["error"] = "invalid_request"
            back["error_description"] = "PKCE with S256 is required."
        elif "openid" not in query.get("scope", "").split():
            back["error"] = "invalid_scope"
        else:
            code = secrets.token_urlsafe(24)
            provider.codes[code] = IssuedCode(
                client_id=query["client_id"],
                redirect_uri=redirect_uri,
                code_challenge=query["code_challenge"],
                nonce=query.get("nonce"),
                claims=dict(provider.person),
            )
            back["code"] = code
        return RedirectResponse(f"{redirect_uri}?{urlencode(back)}", status_code=302)

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        provider.token_requests.append(form)
        client_id = _client_of(provider, request, form)
        if client_id is None:
            return _oauth_error("invalid_client", "client authentication failed", 401)
        if form.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type", "only authorization_code")
        issued = provider.codes.pop(form.get("code", ""), None)
        if issued is None or issued.client_id != client_id:
            return _oauth_error("invalid_grant", "the code is unknown or used")
        if form.get("redirect_uri") != issued.redirect_uri:
            return _oauth_error("invalid_grant", "redirect_uri differs from the authorization request's")
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not secrets.compare_digest(challenge, issued.code_challenge):
            return _oauth_error("invalid_grant", "the code_verifier does not match the challenge")
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": provider.id_token(issued),
            },
            headers={"Cache-Control": "no-store"},
        )

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/jwks", jwks),
            Route("/authorize", authorize),
            Route("/token", token, methods=["POST"]),
        ]
    )
