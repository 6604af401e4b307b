"""``/v1/auth``: people sign in with a password, get a session cookie, sign out, and reset a password
(signing in through the tenant's OIDC provider is in ``web/oidc.py``).

Sign-in answers 401 ``sign_in_failed`` alike for a wrong password, an unknown email and a disabled user.
After ``CXSTACK_AUTH_LOCKOUT_ATTEMPTS`` failures in a row the account is locked for
``CXSTACK_AUTH_LOCKOUT_MINUTES``: 423 ``account_locked`` (the account's state, not the client's rate, hence
423 rather than 429), with ``locked_until``, whatever the password, until the lock ends.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from cxstack.backbone.unit_of_work import Context
from cxstack.governance.staff.passwords import hash_password, password_matches
from cxstack.governance.staff.schemas import (
    Accepted,
    PasswordResetConfirm,
    PasswordResetRequest,
    SignedIn,
    SignIn,
)
from cxstack.governance.staff.sessions import (
    confirm_password_reset,
    current_user,
    find_sign_in,
    record_sign_in,
    request_password_reset,
    sign_out,
)
from cxstack.kit.ids import new_ulid
from cxstack.runtime import Runtime
from cxstack.web.auth import SESSION_COOKIE, Caller, runtime_of, session_of, signed_in
from cxstack.web.correlation import current_correlation_id
from cxstack.web.responses import JSON, dump

router = APIRouter(prefix="/v1/auth", tags=["sign-in"])
SignedInCaller = Annotated[Caller, Depends(signed_in)]
#: Routes anyone may call: no credentials (the OpenAPI document says so).
PUBLIC: dict[str, Any] = {"security": []}


def anonymous() -> Context:
    """The context of a request nobody is signed in to yet."""
    return Context(
        correlation_id=(current_correlation_id() or new_ulid())[:32], actor="anonymous", source="cxstack/api"
    )


@router.post("/sign-in", response_model=SignedIn, openapi_extra=PUBLIC)
async def sign_in_route(request: Request, data: SignIn) -> Response:
    """Sign in with the tenant's slug, an email and a password: the user and the CSRF token state-changing
    requests carry in X-CSRF-Token; the session cookie (``cxstack_session``, HttpOnly, SameSite=Lax, Secure
    unless CXSTACK_AUTH_COOKIE_SECURE is false) is set. 401 ``sign_in_failed`` for anything wrong, 423
    ``account_locked`` after too many failures."""
    runtime = runtime_of(request)
    policy = runtime.services.session_policy
    candidate = await runtime.db.read(partial(find_sign_in, tenant=data.tenant, email=data.email))
    # The check runs even for nobody (against a decoy), so that an unknown email takes as long.
    matched = await asyncio.to_thread(password_matches, candidate.password_hash, data.password)
    outcome = await runtime.db.write(
        partial(record_sign_in, candidate=candidate, password_matched=matched, policy=policy),
        context=anonymous(),
    )
    session, token = outcome.raise_unless_signed_in()
    response = Response(dump(session), media_type=JSON)
    set_session_cookie(response, token, runtime)
    return response


def set_session_cookie(response: Response, token: str, runtime: Runtime) -> None:
    """Set the session cookie of a sign-in (by password or through the tenant's OIDC provider)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(runtime.services.session_policy.absolute.total_seconds()),
        path="/",
        secure=runtime.settings.auth.cookie_secure,
        httponly=True,
        samesite="lax",
    )


@router.post("/sign-out", status_code=204)
async def sign_out_route(request: Request, who: SignedInCaller) -> Response:
    """End the session (on the server: the cookie signs nobody in from now) and clear the cookie."""
    assert who.user is not None
    session_id = who.user.session_id
    await runtime_of(request).db.write(
        partial(sign_out, tenant_id=who.tenant_id, session_id=session_id), context=who.context()
    )
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=runtime_of(request).settings.auth.cookie_secure,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get("/me", response_model=SignedIn)
async def me_route(request: Request, who: SignedInCaller) -> Response:
    """The signed-in user, the session's CSRF token (for a page that reloaded) and when the session ends."""
    holder = await session_of(request)
    result = await runtime_of(request).db.read(partial(current_user, holder=holder))
    return Response(dump(result), media_type=JSON)


@router.post("/password-reset", status_code=202, response_model=Accepted, openapi_extra=PUBLIC)
async def password_reset_route(request: Request, data: PasswordResetRequest) -> Response:
    """Mail a one-time reset link (valid for an hour) to the user the tenant's slug and email name. Always
    202, whether or not there is such a user."""
    await runtime_of(request).db.write(
        partial(request_password_reset, tenant=data.tenant, email=data.email), context=anonymous()
    )
    return Response(dump(Accepted()), status_code=202, media_type=JSON)


@router.post("/password-reset/confirm", status_code=204, openapi_extra=PUBLIC)
async def password_reset_confirm_route(request: Request, data: PasswordResetConfirm) -> Response:
    """Set a new password with the token of a reset link; the link is spent and every session of the
    user ends. 422 ``reset_token_invalid`` for a used, expired or unknown link; 422 ``validation_failed``
    naming ``password`` for one that is too short."""
    hashed = await asyncio.to_thread(hash_password, data.password)
    await runtime_of(request).db.write(
        partial(confirm_password_reset, token=data.token, password=hashed), context=anonymous()
    )
    return Response(status_code=204)
