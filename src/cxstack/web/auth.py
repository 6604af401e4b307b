"""Who is calling: the tenant behind the API key of a request (and what its scopes let it do), a person
signed in with the session cookie (their role's scopes), or the operator behind an operator key.

A request with an API key (``Authorization`` or ``X-API-Key``) is the key's; one without is the session
cookie's (``cxstack_session``), if it has one. A cookie-signed request other than GET, HEAD and OPTIONS
must carry the session's CSRF token in ``X-CSRF-Token`` (403 ``csrf_invalid``): a page of another site can
make the browser send the cookie, never the header with the token.

Keys are checked against the database on every request, not cached, by the process's ``KeyLookups`` and
their last use recorded by its ``KeyUsage`` (``governance/tenants/key_checks.py``, among the runtime's
services): a key revoked by any process is refused by every other on its next request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from cxstack.backbone.unit_of_work import Context
from cxstack.governance.staff.schemas import ROLE_SCOPES
from cxstack.governance.staff.sessions import (
    SessionHolder,
    check_csrf,
    find_session_holder,
    record_session_use,
)
from cxstack.governance.staff.visibility import Visibility
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


#: The cookie that carries a signed-in person's session token.
SESSION_COOKIE = "cxstack_session"
#: The header a cookie-signed state-changing request carries the session's CSRF token in.
CSRF_HEADER = "X-CSRF-Token"


class SessionInvalid(Unauthorized):
    """A session cookie that signs nobody in (signed out, expired, or the user disabled)."""

    code = "session_invalid"
    title = "Session not valid"


class MissingRole(Forbidden):
    """A signed-in person whose role may not do this."""

    code = "missing_role"
    title = "Missing role"


@dataclass(frozen=True, slots=True)
class Person:
    """The signed-in user behind a request: who they are, their role and their teams."""

    user_id: str
    role: str
    team_ids: tuple[str, ...]
    session_id: str
    #: The conversations they see (None: all, an admin).
    visibility: Visibility | None = None


@dataclass(frozen=True, slots=True)
class Caller:
    tenant_id: str
    #: The key of the request; None when a person signed in with the session cookie.
    api_key_id: str | None
    correlation_id: str
    scopes: frozenset[str] = frozenset(SCOPES)
    #: Who the audit log and events name; the key or the person unless an operator acts for the tenant.
    actor: str | None = None
    #: The signed-in person, when the request came with the session cookie rather than a key.
    user: Person | None = None

    def visibility(self) -> Visibility | None:
        """The conversations the caller sees: None (all their scopes allow) for a key and an admin, else
        what the signed-in person's role and teams let them see."""
        return self.user.visibility if self.user is not None else None

    def context(self) -> Context:
        if self.actor is not None:
            actor = self.actor
        elif self.user is not None:
            actor = f"user:{self.user.user_id}"
        else:
            actor = f"api_key:{self.api_key_id}"
        return Context(correlation_id=self.correlation_id, actor=actor, source="cxstack/api")


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


def has_key(connection: HTTPConnection) -> bool:
    """Whether the request presents a key (of any kind, valid or not) rather than a session cookie."""
    return "authorization" in connection.headers or "x-api-key" in connection.headers


async def session_of(connection: HTTPConnection) -> SessionHolder:
    """Return the holder of the request's valid session cookie; raises Unauthorized (no cookie) or
    SessionInvalid. Notes the session's use (``last_seen_at``, written off the request's path)."""
    token = connection.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized("sign in first (POST /v1/auth/sign-in), or send an API key")
    runtime = runtime_of(connection)
    services = runtime.services
    holder = await runtime.db.read_rows(
        partial(find_session_holder, token=token, now=runtime.clock.now(), policy=services.session_policy)
    )
    if holder is None:
        raise SessionInvalid(
            "the session has ended (signed out, expired, or the account was disabled); sign in again"
        )
    services.key_usage.seen(
        holder.session_id, holder.last_seen_at, partial(record_session_use, session_id=holder.session_id)
    )
    return holder


async def person_caller(connection: HTTPConnection, *, method: str, needed: Collection[str]) -> Caller:
    """Return the caller behind the request's session cookie with every scope of ``needed`` (its role's);
    raises Unauthorized, SessionInvalid, CsrfInvalid (a state-changing request without the session's
    token), MissingScope."""
    holder = await session_of(connection)
    if method not in READ_METHODS:
        check_csrf(holder, connection.headers.get(CSRF_HEADER))
    scopes = ROLE_SCOPES.get(holder.role, frozenset())
    for scope in needed:
        if scope not in scopes:
            raise MissingScope(
                f"the {holder.role} role lacks the {scope!r} scope this request needs",
                scope=scope,
                scopes=sorted(scopes),
            )
    return Caller(
        tenant_id=holder.tenant_id,
        api_key_id=None,
        correlation_id=(current_correlation_id() or new_ulid())[:32],
        scopes=scopes,
        user=Person(
            user_id=holder.user_id,
            role=holder.role,
            team_ids=holder.team_ids,
            session_id=holder.session_id,
            visibility=holder.visibility,
        ),
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
    """A dependency returning a route's authenticated tenant caller (by key or session cookie) with
    ``scope`` (None: ``read`` for GET and HEAD, ``write`` for other methods); it raises Unauthorized (401),
    MissingScope or CsrfInvalid (403)."""

    async def dependency(request: Request) -> Caller:
        needed = scope or ("read" if request.method in READ_METHODS else "write")
        if not has_key(request) and SESSION_COOKIE in request.cookies:
            return await person_caller(request, method=request.method, needed=(needed,))
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
#: The caller of a tenant's administration route (its audit log, its keys, its users): ``admin`` scope.
admin_caller = caller_with("admin")


async def supervisor_caller(who: Annotated[Caller, Depends(caller)]) -> Caller:
    """The caller of a route that shows the tenant's people (the user list): a key with the ``read``
    scope, or a signed-in supervisor or admin; raises MissingRole (403) for an agent."""
    if who.user is not None and who.user.role not in ("supervisor", "admin"):
        raise MissingRole(
            f"the {who.user.role} role may not do this: it needs a supervisor or an admin",
            role=who.user.role,
        )
    return who


class PeopleOnly(Forbidden):
    """An API key on a route of a signed-in person's own things."""

    code = "people_only"
    title = "For signed-in people only"


async def person_only(who: Annotated[Caller, Depends(caller)]) -> Caller:
    """The caller of a route of a signed-in person's own things (their saved views, their mentions): the
    session cookie; raises PeopleOnly (403) for a key, valid as it may be, since a key is nobody."""
    if who.user is None:
        raise PeopleOnly(
            "saved views and mentions belong to people, and an API key is nobody: "
            "sign in (POST /v1/auth/sign-in) and call with the session cookie"
        )
    return who


async def config_caller(who: Annotated[Caller, Depends(caller)]) -> Caller:
    """The caller of a route that changes the tenant's channel configuration (or shows its secrets): a key
    with the method's scope, or a signed-in admin; raises MissingRole (403) for an agent or a supervisor."""
    if who.user is not None and who.user.role != "admin":
        raise MissingRole(
            f"the {who.user.role} role may not do this: the tenant's configuration is an admin's",
            role=who.user.role,
        )
    return who


async def signed_in(request: Request) -> Caller:
    """The caller of a route for signed-in people only (``/v1/auth/me``, sign-out): the session cookie,
    with the CSRF token for anything but reads; raises Unauthorized, SessionInvalid, CsrfInvalid."""
    return await person_caller(request, method=request.method, needed=())


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
