"""Who is calling: the tenant behind the API key of a request (and what its scopes let it do), or the
operator behind an operator key.

Keys are checked against the database on every request, not cached: a key revoked by any process is
refused by every other on its next request. The check is a prepared point read by the key's unique digest
(on the embedded driver on the event loop's own connection, tens of microseconds). On PostgreSQL the
requests that arrive while a check is under way are checked together in the next one (``KeyLookups``, one
read transaction), so under load the checks cost one round trip per group rather than per request, and
every request is still checked by a read that began after it arrived. A key's ``last_used_at`` is written
off the request's path, at most once a minute per key (``KeyUsage``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import structlog
from fastapi import Request
from starlette.requests import HTTPConnection

from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.governance.tenants.operators import authenticate_operator, record_operator_key_use
from cxstack.governance.tenants.schemas import SCOPES, Scope
from cxstack.governance.tenants.service import (
    LAST_USED_RESOLUTION,
    KeyHolder,
    check_key_kind,
    digest_of,
    find_key_holders,
    record_api_key_use,
)
from cxstack.kit.errors import Forbidden, Unauthorized
from cxstack.kit.ids import new_ulid
from cxstack.runtime import Runtime
from cxstack.web.correlation import current_correlation_id

log = structlog.get_logger("cxstack.auth")

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


class KeyLookups:
    """Checks tenant keys against the database; on PostgreSQL the keys of requests that wait together in one
    read transaction."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._waiting: dict[str, list[asyncio.Future[KeyHolder | None]]] = {}
        self._running = False
        self._task: asyncio.Task[None] | None = None

    async def holder(self, key: str) -> KeyHolder:
        """Return the holder of a valid tenant key; raises WrongKeyKind, Unauthorized."""
        check_key_kind(key)
        digest = digest_of(key)
        if self._runtime.db.driver == "sqlite":  # read inline, on the event loop: nothing to wait beside
            holders = await self._runtime.db.read_rows(
                partial(find_key_holders, digests=[digest]), one_statement=True
            )
            found = holders.get(digest)
        else:
            future: asyncio.Future[KeyHolder | None] = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(digest, []).append(future)
            if not self._running:
                self._running = True
                self._task = asyncio.get_running_loop().create_task(self._run())
            found = await future
        if found is None:
            raise Unauthorized("the API key is not valid")
        return found

    async def _run(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, {}
                try:
                    found = await self._runtime.db.read_rows(partial(find_key_holders, digests=list(group)))
                except BaseException as error:
                    for futures in group.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                for digest, futures in group.items():
                    for future in futures:
                        if not future.done():
                            future.set_result(found.get(digest))
        finally:
            self._running = False


class KeyUsage:
    """Writes keys' ``last_used_at`` in the background: at most one write a minute per key from this
    process (and the write itself skips a key another process touched within the minute)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._scheduled: dict[str, datetime] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def seen(self, key_id: str, last_used_at: datetime | None, record: Callable[[UnitOfWork], bool]) -> None:
        """Note a use of ``key_id`` (whose stored ``last_used_at`` is given); returns at once."""
        now = self._runtime.clock.now()
        if last_used_at is not None and now - last_used_at < LAST_USED_RESOLUTION:
            return
        scheduled = self._scheduled.get(key_id)
        if scheduled is not None and now - scheduled < LAST_USED_RESOLUTION:
            return
        if len(self._scheduled) > 10_000:
            self._scheduled.clear()
        self._scheduled[key_id] = now
        task = asyncio.get_running_loop().create_task(self._write(key_id, record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, key_id: str, record: Callable[[UnitOfWork], bool]) -> None:
        try:
            await self._runtime.db.write(record, background=True)
        except Exception as error:  # a lost timestamp must never fail anything else
            log.warning("key_last_used_not_recorded", key_id=key_id, error=repr(error))

    async def drain(self) -> None:
        """Wait for the writes scheduled so far (before the database stops)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def key_usage_of(connection: HTTPConnection) -> KeyUsage:
    usage: KeyUsage = connection.app.state.key_usage
    return usage


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
    lookups: KeyLookups = connection.app.state.key_lookups
    holder = await lookups.holder(key)
    key_usage_of(connection).seen(
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
    key_usage_of(request).seen(
        holder.operator_key_id,
        holder.last_used_at,
        partial(record_operator_key_use, operator_key_id=holder.operator_key_id),
    )
    return Operator(operator_key_id=holder.operator_key_id, correlation_id=_correlation_id(request))
