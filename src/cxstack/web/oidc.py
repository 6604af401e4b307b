"""``/v1/auth/oidc``: people sign in through their tenant's OpenID Connect provider, and admins set it.

A browser goes to ``GET /v1/auth/oidc/{tenant}/start?next=/path``, is sent (302) to the provider's
authorization endpoint, and comes back to ``GET /v1/auth/oidc/callback?code=…&state=…``: the code is
exchanged, the ID token checked, and the same session cookie a password sign-in sets is set before the
browser goes (303) to ``next`` (a path of this site; anything else goes to ``/``). The sign-in's ``state``
is also kept in a short-lived cookie (``cxstack_oidc``), so that a return the browser did not start itself
is refused. Whatever goes wrong ends in a problem: 400 ``oidc_state_invalid``, 401
``oidc_provider_refused`` / ``oidc_code_refused`` / ``oidc_token_invalid``, 403 ``oidc_user_unknown`` /
``oidc_user_disabled``, 404 ``oidc_not_configured``, 423 ``account_locked``, 502
``oidc_provider_unreachable`` / ``oidc_provider_invalid``.
"""

from __future__ import annotations

import hmac
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff.oidc import (
    SIGN_IN_LIFETIME,
    OidcProviderRefused,
    OidcStateInvalid,
    begin_oidc_sign_in,
    callback_url,
    claim_oidc_sign_in,
    delete_oidc_provider,
    find_oidc_provider,
    finish_oidc_sign_in,
    get_oidc_provider,
    oidc_provider_of,
    set_oidc_provider,
)
from cxstack.governance.staff.oidc_client import authorization_url
from cxstack.governance.staff.schemas import OidcProviderIn, OidcProviderOut
from cxstack.kit.errors import ValidationFailed
from cxstack.web.auth import Caller, admin_caller, runtime_of
from cxstack.web.responses import read, write
from cxstack.web.sign_in import PUBLIC, anonymous, set_session_cookie

router = APIRouter(prefix="/v1/auth/oidc", tags=["sign-in"])
Admin = Annotated[Caller, Depends(admin_caller)]
#: The cookie that ties a provider's return to the browser that started the sign-in.
STATE_COOKIE = "cxstack_oidc"
STATE_COOKIE_PATH = "/v1/auth/oidc"
_START_ANSWER: dict[int | str, dict[str, Any]] = {
    302: {"description": "To the provider's authorization endpoint (Location)."}
}
_CALLBACK_ANSWER: dict[int | str, dict[str, Any]] = {
    303: {"description": "Signed in: the session cookie is set; on to the `next` path (Location)."}
}


# -- the tenant's provider ----------------------------------------------------------------------------


@router.put("/provider", response_model=OidcProviderOut)
async def set_provider_route(request: Request, who: Admin, data: OidcProviderIn) -> Response:
    """Set the tenant's OIDC provider (admins only): its issuer, cxstack's client id and secret there,
    the scopes, whether new people are provisioned as agents, and the email claim. The answer never holds
    the secret; it gives the redirect URI to register at the provider. A secret left out keeps the stored
    one. 422 naming the field for an issuer that is not HTTPS, scopes without openid, or a new provider
    without a secret."""
    runtime = runtime_of(request)
    auth = runtime.settings.auth

    def change(uow: UnitOfWork) -> OidcProviderOut:
        return set_oidc_provider(
            uow,
            tenant_id=who.tenant_id,
            data=data,
            allow_http=auth.oidc_allow_http,
            public_url=auth.public_url,
        )

    answer = await write(request, who, change)
    runtime.services.oidc.forget(data.issuer.strip())
    return answer


@router.get("/provider", response_model=OidcProviderOut)
async def get_provider_route(request: Request, who: Admin) -> Response:
    """The tenant's OIDC provider, without its client secret (admins only); 404 ``oidc_not_configured``."""
    public_url = runtime_of(request).settings.auth.public_url
    return await read(
        request, lambda session: get_oidc_provider(session, tenant_id=who.tenant_id, public_url=public_url)
    )


@router.delete("/provider", status_code=204)
async def delete_provider_route(request: Request, who: Admin) -> Response:
    """Remove the tenant's OIDC provider (admins only): its people sign in with passwords only from now;
    404 ``oidc_not_configured``."""

    def remove(uow: UnitOfWork) -> None:
        delete_oidc_provider(uow, tenant_id=who.tenant_id)

    return await write(request, who, remove, status=204)


# -- signing in ---------------------------------------------------------------------------------------


@router.get("/{tenant_slug}/start", status_code=302, openapi_extra=PUBLIC, responses=_START_ANSWER)
async def start_route(
    request: Request,
    tenant_slug: str,
    next: Annotated[
        str | None, Query(max_length=2000, description="Where to go once signed in: a path of this site.")
    ] = None,
) -> Response:
    """Start signing in to the tenant through its OIDC provider: a redirect (302) to the provider, with the
    sign-in's state in a cookie for ten minutes. 404 ``oidc_not_configured``, 502 when the provider cannot
    be reached or answers wrongly."""
    runtime = runtime_of(request)
    provider = await runtime.db.read(partial(find_oidc_provider, tenant_slug=tenant_slug))
    metadata = await runtime.services.oidc.metadata(provider.issuer)
    redirect_uri = callback_url(runtime.settings.auth.public_url)
    pending = await runtime.db.write(
        partial(begin_oidc_sign_in, provider=provider, redirect_uri=redirect_uri, next_path=next or "/"),
        context=anonymous(),
    )
    location = authorization_url(
        metadata,
        client_id=provider.client_id,
        redirect_uri=redirect_uri,
        scopes=provider.scopes,
        state=pending.state,
        nonce=pending.nonce,
        code_verifier=pending.code_verifier,
    )
    response = RedirectResponse(location, status_code=302)
    response.set_cookie(
        STATE_COOKIE,
        pending.state,
        max_age=int(SIGN_IN_LIFETIME.total_seconds()),
        path=STATE_COOKIE_PATH,
        secure=runtime.settings.auth.cookie_secure,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get("/callback", status_code=303, openapi_extra=PUBLIC, responses=_CALLBACK_ANSWER)
async def callback_route(
    request: Request,
    state: Annotated[str | None, Query(max_length=200)] = None,
    code: Annotated[str | None, Query(max_length=4000)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    """Where the provider sends the browser back (the redirect URI to register there). The sign-in is
    spent whatever happens next; signed in, the session cookie is set and the browser goes (303) to the
    ``next`` path the sign-in started with."""
    runtime = runtime_of(request)
    if not state:
        raise OidcStateInvalid("the provider sent no state back; start signing in again", field="state")
    kept = request.cookies.get(STATE_COOKIE)
    if not kept or not hmac.compare_digest(kept.encode(), state.encode()):
        raise OidcStateInvalid(
            "this sign-in was not started in this browser (or has ended); start signing in again",
            field="state",
        )
    claimed = await runtime.db.write(partial(claim_oidc_sign_in, state=state), context=anonymous())
    if claimed is None:
        raise OidcStateInvalid(
            "this sign-in is used, expired or unknown; start signing in again", field="state"
        )
    if error:
        raise OidcProviderRefused(
            f"the provider did not sign you in ({error}"
            + (f": {error_description}" if error_description else "")
            + ")",
            error=error,
        )
    if not code:
        raise ValidationFailed("the provider sent no code back", field="code")
    provider = await runtime.db.read(partial(oidc_provider_of, tenant_id=claimed.tenant_id))
    if provider is None or provider.issuer != claimed.issuer:
        raise OidcStateInvalid(
            "the tenant's sign-in provider changed during this sign-in; start signing in again", field="state"
        )
    client = runtime.services.oidc
    metadata = await client.metadata(provider.issuer)
    id_token = await client.exchange_code(
        metadata,
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        code=code,
        redirect_uri=claimed.redirect_uri,
        code_verifier=claimed.code_verifier,
    )
    claims = await client.verified_claims(
        metadata,
        id_token=id_token,
        client_id=provider.client_id,
        nonce=claimed.nonce,
        now=runtime.clock.now(),
    )
    outcome = await runtime.db.write(
        partial(
            finish_oidc_sign_in, provider=provider, claims=claims, policy=runtime.services.session_policy
        ),
        context=anonymous(),
    )
    _, token = outcome.raise_unless_signed_in()
    response = RedirectResponse(claimed.next_path, status_code=303)
    set_session_cookie(response, token, runtime)
    response.delete_cookie(
        STATE_COOKIE,
        path=STATE_COOKIE_PATH,
        secure=runtime.settings.auth.cookie_secure,
        httponly=True,
        samesite="lax",
    )
    return response
