"""Talking to a tenant's OpenID Connect provider: its discovery document and signing keys (kept a few
minutes per process), the authorization URL a browser is sent to, the code exchange at the token endpoint,
and the checks on the ID token that comes back.

Every request goes out through ``httpx`` with the ``CXSTACK_AUTH_OIDC_TIMEOUT_SECONDS`` limit. A provider
that cannot be reached, or answers with a server error, is 502 ``oidc_provider_unreachable``; one whose
answers are not what OpenID Connect says (a discovery document of another issuer, an endpoint over plain
HTTP, keys that do not parse) is 502 ``oidc_provider_invalid``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from cxstack.kit.errors import DomainError, Unauthorized, ValidationFailed

DISCOVERY_PATH = "/.well-known/openid-configuration"
#: How long a provider's discovery document and keys are used before they are read again.
METADATA_TTL_SECONDS = 300.0
#: The ID token signatures taken: the asymmetric ones OpenID Connect providers use.
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
#: How far the provider's clock may be from ours when ``exp`` and ``iat`` are checked.
CLOCK_LEEWAY_SECONDS = 60
#: The client authentications cxstack can do at the token endpoint, in the order it prefers them.
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class OidcProviderUnreachable(DomainError):
    """The provider did not answer in time, or answered with a server error."""

    status = 502
    code = "oidc_provider_unreachable"
    title = "Sign-in provider unreachable"


class OidcProviderInvalid(DomainError):
    """The provider answered, but not as OpenID Connect says it must."""

    status = 502
    code = "oidc_provider_invalid"
    title = "Sign-in provider answered wrongly"


class OidcCodeRefused(Unauthorized):
    """The provider's token endpoint refused the code (spent, expired, or not for this client)."""

    code = "oidc_code_refused"
    title = "Sign-in code refused"


class OidcTokenInvalid(Unauthorized):
    """The ID token is not one to trust: its signature, issuer, audience, expiry or nonce is wrong."""

    code = "oidc_token_invalid"
    title = "ID token not valid"


def check_url(value: str, *, allow_http: bool) -> str | None:
    """Return why ``value`` cannot be a provider's URL (None when it can): an absolute HTTPS URL with a
    host and no query or fragment; HTTP only when ``allow_http``."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return "it is not a URL"
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        allowing = "" if allow_http else " (CXSTACK_AUTH_OIDC_ALLOW_HTTP allows http)"
        return "it must be an https:// URL" + allowing
    if not parts.hostname:
        return "it has no host"
    if parts.query or parts.fragment:
        return "it must have no query or fragment"
    if any(character.isspace() for character in value):
        return "it must have no spaces"
    return None


def check_issuer(value: str, *, allow_http: bool, field: str = "issuer") -> str:
    """Return the issuer URL stripped of surrounding spaces; raises ValidationFailed naming ``field``."""
    issuer = value.strip()
    problem = check_url(issuer, allow_http=allow_http)
    if problem is not None:
        raise ValidationFailed(f"{value!r} cannot be an issuer: {problem}", field=field)
    return issuer


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """What a provider's discovery document says cxstack needs, and its signing keys."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    #: Of ``CLIENT_AUTH_METHODS``: how cxstack authenticates at the token endpoint.
    token_auth_method: str
    keys: KeySet
    fetched_at: float


def authorization_url(
    metadata: ProviderMetadata,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    state: str,
    nonce: str,
    code_verifier: str,
) -> str:
    """Return the URL of the provider's authorization endpoint a browser is sent to: the code flow with a
    PKCE S256 challenge, the state and the nonce."""
    url: str = prepare_grant_uri(
        metadata.authorization_endpoint,
        client_id=client_id,
        response_type="code",
        redirect_uri=redirect_uri,
        scope=" ".join(scopes),
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(code_verifier),
        code_challenge_method="S256",
    )
    return url


class OidcClient:
    """The requests a process makes to tenants' OIDC providers, with each provider's discovery document
    and keys kept for ``METADATA_TTL_SECONDS``."""

    def __init__(self, *, timeout_s: float, allow_http: bool, ttl_s: float = METADATA_TTL_SECONDS) -> None:
        self.timeout_s = timeout_s
        self.allow_http = allow_http
        self.ttl_s = ttl_s
        self._metadata: dict[str, ProviderMetadata] = {}

    def forget(self, issuer: str) -> None:
        """Drop what is kept of a provider (its configuration changed)."""
        self._metadata.pop(issuer, None)

    async def metadata(self, issuer: str) -> ProviderMetadata:
        """Return the provider's discovery document and keys, read again when older than the TTL; raises
        OidcProviderUnreachable, OidcProviderInvalid."""
        kept = self._metadata.get(issuer)
        if kept is not None and time.monotonic() - kept.fetched_at < self.ttl_s:
            return kept
        fresh = await self._discover(issuer)
        self._metadata[issuer] = fresh
        return fresh

    async def exchange_code(
        self,
        metadata: ProviderMetadata,
        *,
        client_id: str,
        client_secret: str,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> str:
        """Exchange an authorization code (with its PKCE verifier) at the token endpoint; return the ID
        token. Raises OidcCodeRefused (an OAuth error answer), OidcProviderUnreachable,
        OidcProviderInvalid (no ID token)."""
        form = httpx.QueryParams(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        )
        auth = ClientAuth(client_id, client_secret, metadata.token_auth_method)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        _, headers, body = auth.prepare("POST", metadata.token_endpoint, headers, str(form))
        answer = await self._request("POST", metadata.token_endpoint, headers=headers, content=str(body))
        document = _json_object(answer, what="the token endpoint")
        if answer.status_code >= 400 or "error" in document:
            error = str(document.get("error") or f"HTTP {answer.status_code}")
            described = document.get("error_description")
            raise OidcCodeRefused(
                f"the provider refused the sign-in code ({error}"
                + (f": {described}" if isinstance(described, str) else "")
                + "); start signing in again",
                error=error,
            )
        id_token = document.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise OidcProviderInvalid("the provider's token endpoint answered without an id_token")
        return id_token

    async def verified_claims(
        self, metadata: ProviderMetadata, *, id_token: str, client_id: str, nonce: str, now: datetime
    ) -> dict[str, Any]:
        """Return the claims of an ID token signed with one of the provider's keys (read again once for a
        key id not among them), issued by the provider for ``client_id`` with ``nonce``, not expired;
        raises OidcTokenInvalid."""
        try:
            token = jwt.decode(id_token, metadata.keys, algorithms=ID_TOKEN_ALGORITHMS)
        except InvalidKeyIdError:
            # The provider may have rotated its keys since they were read.
            metadata = await self._refresh_keys(metadata)
            try:
                token = jwt.decode(id_token, metadata.keys, algorithms=ID_TOKEN_ALGORITHMS)
            except JoseError as error:
                raise OidcTokenInvalid(f"the ID token's signature is not the provider's: {error}") from None
        except (JoseError, ValueError) as error:
            raise OidcTokenInvalid(f"the ID token's signature is not the provider's: {error}") from None
        claims = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(
            now=int(now.timestamp()),
            leeway=CLOCK_LEEWAY_SECONDS,
            iss={"essential": True, "value": metadata.issuer},
            aud={"essential": True, "value": client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise OidcTokenInvalid("the ID token has expired") from None
        except JoseError as error:
            claim = getattr(error, "claim", None)
            raise OidcTokenInvalid(
                f"the ID token is not valid for this sign-in: {error.description or error}",
                **({"claim": claim} if claim else {}),
            ) from None
        audience = claims["aud"]
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
            raise OidcTokenInvalid("the ID token is for several clients and not authorised for this one")
        return claims

    # -- reading the provider ----------------------------------------------------------------------

    async def _discover(self, issuer: str) -> ProviderMetadata:
        answer = await self._request("GET", issuer.rstrip("/") + DISCOVERY_PATH)
        if answer.status_code != 200:
            raise OidcProviderInvalid(
                f"the provider's discovery document ({issuer.rstrip('/')}{DISCOVERY_PATH}) answered "
                f"HTTP {answer.status_code}"
            )
        document = _json_object(answer, what="the discovery document")
        if document.get("issuer") != issuer:
            raise OidcProviderInvalid(
                f"the discovery document names the issuer {document.get('issuer')!r}, not {issuer!r}"
            )
        endpoints = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = document.get(name)
            problem = check_url(value, allow_http=self.allow_http) if isinstance(value, str) else "missing"
            if problem is not None:
                raise OidcProviderInvalid(f"the discovery document's {name} is not usable: {problem}")
            endpoints[name] = str(value)
        offered = document.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        method = next((m for m in CLIENT_AUTH_METHODS if isinstance(offered, list) and m in offered), None)
        if method is None:
            raise OidcProviderInvalid(
                f"the provider authenticates clients by {offered!r}; cxstack needs client_secret_basic or "
                "client_secret_post"
            )
        keys = await self._keys(endpoints["jwks_uri"])
        return ProviderMetadata(
            issuer=issuer,
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=endpoints["token_endpoint"],
            jwks_uri=endpoints["jwks_uri"],
            token_auth_method=method,
            keys=keys,
            fetched_at=time.monotonic(),
        )

    async def _refresh_keys(self, metadata: ProviderMetadata) -> ProviderMetadata:
        fresh = ProviderMetadata(
            issuer=metadata.issuer,
            authorization_endpoint=metadata.authorization_endpoint,
            token_endpoint=metadata.token_endpoint,
            jwks_uri=metadata.jwks_uri,
            token_auth_method=metadata.token_auth_method,
            keys=await self._keys(metadata.jwks_uri),
            fetched_at=metadata.fetched_at,
        )
        self._metadata[metadata.issuer] = fresh
        return fresh

    async def _keys(self, jwks_uri: str) -> KeySet:
        answer = await self._request("GET", jwks_uri)
        if answer.status_code != 200:
            raise OidcProviderInvalid(f"the provider's keys ({jwks_uri}) answered HTTP {answer.status_code}")
        document = _json_object(answer, what="the provider's keys")
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise OidcProviderInvalid("the provider's keys are not a JSON Web Key Set")
        # Keys for encryption, or of kinds cxstack does not know, are no use for checking a signature.
        usable = [key for key in keys if isinstance(key, dict) and key.get("use", "sig") == "sig"]
        try:
            return KeySet.import_key_set({"keys": usable})
        except (JoseError, ValueError, TypeError) as error:
            raise OidcProviderInvalid(f"the provider's keys do not parse: {error}") from None

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as http:
                answer = await http.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise OidcProviderUnreachable(
                f"the sign-in provider at {url} could not be reached: {type(error).__name__} {error}".strip()
            ) from None
        if answer.status_code >= 500:
            raise OidcProviderUnreachable(f"the sign-in provider at {url} answered HTTP {answer.status_code}")
        return answer


def _json_object(answer: httpx.Response, *, what: str) -> dict[str, Any]:
    try:
        document = answer.json()
    except ValueError:
        raise OidcProviderInvalid(f"{what} answered something that is not JSON") from None
    if not isinstance(document, dict):
        raise OidcProviderInvalid(f"{what} answered JSON that is not an object")
    return document
