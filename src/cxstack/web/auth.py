"""Who is calling: the tenant behind the API key of a request."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import Request

from cxstack.backbone.errors import Unauthorized
from cxstack.backbone.ids import new_ulid
from cxstack.backbone.unit_of_work import Context
from cxstack.governance.tenants.service import authenticate, digest_of
from cxstack.runtime import Runtime
from cxstack.web.correlation import current_correlation_id

#: How long a checked key is trusted before it is checked again (a revoked key stops working within this).
KEY_CACHE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Caller:
    tenant_id: str
    api_key_id: str
    correlation_id: str

    def context(self) -> Context:
        return Context(
            correlation_id=self.correlation_id, actor=f"api_key:{self.api_key_id}", source="cxstack/api"
        )


class ApiKeyCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, str, float]] = {}

    def get(self, digest: str) -> tuple[str, str] | None:
        entry = self._entries.get(digest)
        if entry is None or entry[2] < time.monotonic():
            return None
        return entry[0], entry[1]

    def put(self, digest: str, tenant_id: str, api_key_id: str) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (tenant_id, api_key_id, time.monotonic() + KEY_CACHE_SECONDS)

    def forget_all(self) -> None:
        self._entries.clear()


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _presented_key(request: Request) -> str:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <API key>'")
        return value.strip()
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    raise Unauthorized("an API key is required: send 'Authorization: Bearer <API key>'")


async def caller(request: Request) -> Caller:
    """Return the authenticated caller of a request; raises Unauthorized."""
    key = _presented_key(request)
    cache: ApiKeyCache = request.app.state.api_keys
    digest = digest_of(key)
    found = cache.get(digest)
    if found is None:
        runtime = runtime_of(request)
        found = await runtime.db.read(lambda session: authenticate(session, key=key))
        cache.put(digest, *found)
    # The id the response carries in X-Correlation-Id; events keep its first 32 characters.
    correlation_id = current_correlation_id() or new_ulid()
    return Caller(tenant_id=found[0], api_key_id=found[1], correlation_id=correlation_id[:32])
