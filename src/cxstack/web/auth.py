"""Who is calling: the tenant behind the API key of a request (and what its scopes let it do), or the
operator behind an operator key.

Keys are checked against the database on every request, not cached, by the process's ``KeyLookups`` and
their last use recorded by its ``KeyUsage`` (``governance/tenants/key_checks.py``, among the runtime's
services): a key revoked by any process is refused by every other on its next request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from functools import partial

from fastapi import Request
from starlette.requests import HTTPConnection

from cxstack.backbone.unit_of_work import Context
from cxstack.governance.tenants.operators import authenticate_operator, record_operator_key_use
from cxstack.governance.tenants.schemas import SCOPES, Scope
from cxstack.governance.tenants.service import KeyHolder, record_api_key_use
from cxstack.kit.errors import Forbidden, Unauthorized
from cxstack.kit.ids import new_ulid
from cxstack.runtime import Runtime
from cxstack.web.correlation import current_correlation_id

#: The scope a tenant route needs when it names none: reading for these methods, writing for the others.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class MissingScope(Forbidden):
    """A valid key without the scope the route needs."""

    code = "missing_scope"
    title = "Missing scope"


@dataclass(frozen=True, slots=True)
class Caller:
    tenant_id: str
    api_key_id: str
    correlation_id: str
    scopes: frozenset[str] = frozenset(SCOPES)
    #: Who the audit log and events name; the tenant key unless an operator acts for the tenant.
    actor: str | None = None

    def context(self) -> Context:
        return Context(
            correlation_id=self.correlation_id,
            actor=self.actor or f"api_key:{self.api_key_id}",
            source="cxstack/api",
        )


@dataclass(frozen=True, slots=True)
class Operator:
    operator_key_id: str
    correlation_id: str

    @property
    def actor(self) -> str:
        return f"operator_key:{self.operator_key_id}"

    def context(self) -> Context:
        return Context(correlation_id=self.correlation_id, actor=self.actor, source="cxstack/operator")


def runtime_of(connection: HTTPConnection) -> Runtime:
    """Return the runtime the app serves (``create_app``); a route reaches the process's services through
    its ``services``."""
    runtime: Runtime = connection.app.state.runtime
    return runtime


def presented_key(connection: HTTPConnection) -> str:
    """Return the key in ``Authorization: Bearer`` (or ``X-API-Key``); raises Unauthorized."""
    header = connection.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <API key>'")
        return value.strip()
    key = connection.headers.get("x-api-key")
    if key and key.strip():
        return key.strip()
    raise Unauthorized("an API key is required: send 'Authorization: Bearer <API key>'")


def require_scopes(holder: KeyHolder, needed: Collection[str]) -> None:
    """Raises MissingScope (403) naming the first scope of ``needed`` the key lacks."""
    for scope in needed:
        if scope not in holder.scopes:
            raise MissingScope(
                f"this API key lacks the {scope!r} scope this request needs",
                scope=scope,
                scopes=sorted(holder.scopes),
            )


async def tenant_key(connection: HTTPConnection, key: str, *, needed: Collection[str]) -> KeyHolder:
    """Return the holder of a valid tenant key with every scope of ``needed``; raises Unauthorized,
    WrongKeyKind (an operator key), MissingScope."""
    services = runtime_of(connection).services
    holder = await services.key_lookups.holder(key)
    services.key_usage.seen(
        holder.api_key_id, holder.last_used_at, partial(record_api_key_use, api_key_id=holder.api_key_id)
    )
    require_scopes(holder, needed)
    return holder


def _correlation_id(request: Request) -> str:
    # The id the response carries in X-Correlation-Id; events keep its first 32 characters.
    return (current_correlation_id() or new_ulid())[:32]


def caller_with(scope: Scope | None) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency returning a route's authenticated tenant caller with ``scope`` (None: ``read`` for
    GET and HEAD, ``write`` for other methods); it raises Unauthorized (401) or MissingScope (403)."""

    async def dependency(request: Request) -> Caller:
        needed = scope or ("read" if request.method in READ_METHODS else "write")
        holder = await tenant_key(request, presented_key(request), needed=(needed,))
        return Caller(
            tenant_id=holder.tenant_id,
            api_key_id=holder.api_key_id,
            correlation_id=_correlation_id(request),
            scopes=holder.scopes,
        )

    dependency.__name__ = f"caller_with_{scope or 'method_scope'}"
    return dependency


#: The caller of a tenant route: ``read`` scope for GET and HEAD, ``write`` for every other method.
caller = caller_with(None)
#: The caller of a tenant's administration route (its audit log, its keys): ``admin`` scope.
admin_caller = caller_with("admin")


async def operator(request: Request) -> Operator:
    """Return the operator behind an operator key; raises Unauthorized (a tenant key included)."""
    key = presented_key(request)
    holder = await runtime_of(request).db.read(lambda session: authenticate_operator(session, key=key))
    runtime_of(request).services.key_usage.seen(
        holder.operator_key_id,
        holder.last_used_at,
        partial(record_operator_key_use, operator_key_id=holder.operator_key_id),
    )
    return Operator(operator_key_id=holder.operator_key_id, correlation_id=_correlation_id(request))
