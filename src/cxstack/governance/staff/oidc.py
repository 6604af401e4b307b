"""Signing people in through their tenant's OpenID Connect provider (the authorization code flow with
PKCE), and an admin's configuration of that provider.

A sign-in runs in three steps, so that no transaction waits on the provider: ``begin_oidc_sign_in``
stores a sign-in under way (the digest of its ``state``, its nonce and PKCE verifier, and where the person
goes afterwards; valid ten minutes, once), ``claim_oidc_sign_in`` spends it when the provider sends the
person back, and ``finish_oidc_sign_in``, once the code is exchanged and the ID token checked
(``oidc_client``), finds the user by the token's verified email and opens a session as a password sign-in
does. Only the tenant's enabled users sign in, unless the provider is set to provision new people (as
agents); a locked account stays locked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.audit.service import record_audit
from cxstack.governance.staff.models import OidcProvider, OidcSignIn
from cxstack.governance.staff.oidc_client import OidcTokenInvalid, check_issuer
from cxstack.governance.staff.passwords import digest_of_token, new_token
from cxstack.governance.staff.repository import StaffRepository
from cxstack.governance.staff.schemas import OidcProviderIn, OidcProviderOut
from cxstack.governance.staff.service import SUBJECT_USER, create_user, normalise_email
from cxstack.governance.staff.sessions import SessionPolicy, SignInOutcome, open_session
from cxstack.governance.tenants.models import Tenant
from cxstack.governance.tenants.service import get_tenant_by_slug
from cxstack.kit.errors import DomainError, Forbidden, NotFound, ValidationFailed
from cxstack.kit.ids import new_id

#: Where providers send people back, under ``CXSTACK_AUTH_PUBLIC_URL``.
CALLBACK_PATH = "/v1/auth/oidc/callback"
#: How long a person has at the provider before the sign-in is no longer taken back.
SIGN_IN_LIFETIME = timedelta(minutes=10)
SUBJECT_OIDC_PROVIDER = "oidc_provider"
#: A scope token (RFC 6749, section 3.3).
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
_CLAIM = re.compile(r"^[A-Za-z0-9_.:/-]+$")
#: The role of a person provisioned on their first sign-in.
PROVISIONED_ROLE = "agent"


class OidcNotConfigured(NotFound):
    """No OIDC provider for the tenant (or no such tenant: nothing tells them apart)."""

    code = "oidc_not_configured"
    title = "No sign-in provider"


class OidcStateInvalid(DomainError):
    """A return from the provider that matches no sign-in of this browser: unknown, used, expired."""

    status = 400
    code = "oidc_state_invalid"
    title = "Sign-in not recognised"


class OidcProviderRefused(DomainError):
    """The provider sent the person back with an error (they declined, or it refused the request)."""

    status = 401
    code = "oidc_provider_refused"
    title = "Sign-in refused by the provider"


class OidcUserUnknown(Forbidden):
    """The provider vouched for someone the tenant does not know (and does not provision)."""

    code = "oidc_user_unknown"
    title = "Unknown user"


class OidcUserDisabled(Forbidden):
    """The provider vouched for a user whom the tenant disabled."""

    code = "oidc_user_disabled"
    title = "User disabled"


def callback_url(public_url: str) -> str:
    """The redirect URI to register at every provider."""
    return public_url.rstrip("/") + CALLBACK_PATH


def safe_next(value: str | None) -> str:
    """Return ``value`` if it is a path of this site (``/inbox?x=1``), else ``/``: never another site."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(character) < 0x21 or ord(character) == 0x7F for character in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


# -- the provider's configuration ---------------------------------------------------------------------


def _scopes(scopes: list[str]) -> list[str]:
    wanted = list(dict.fromkeys(scope.strip() for scope in scopes))
    for scope in wanted:
        if not _SCOPE.match(scope):
            raise ValidationFailed(f"{scope!r} is not a scope (no spaces or quotes)", field="scopes")
    if "openid" not in wanted:
        raise ValidationFailed("the scopes must include openid", field="scopes")
    return wanted


def _provider_out(provider: OidcProvider, *, slug: str, public_url: str) -> OidcProviderOut:
    return OidcProviderOut(
        issuer=provider.issuer,
        client_id=provider.client_id,
        has_client_secret=bool(provider.client_secret),
        scopes=provider.scopes.split(),
        provision_users=provider.provision_users,
        email_claim=provider.email_claim,
        redirect_uri=callback_url(public_url),
        sign_in_url=f"{public_url.rstrip('/')}/v1/auth/oidc/{slug}/start",
        created_at=provider.created_at,
        updated_at=provider.updated_at,
    )


def _provider_of(session: Session, tenant_id: str, *, for_update: bool = False) -> OidcProvider | None:
    query = select(OidcProvider).where(OidcProvider.tenant_id == tenant_id)
    return session.scalar(query.with_for_update() if for_update else query)


def _slug_of(session: Session, tenant_id: str) -> str:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} does not exist", field="tenant_id")
    return tenant.slug


def set_oidc_provider(
    uow: UnitOfWork, *, tenant_id: str, data: OidcProviderIn, allow_http: bool, public_url: str
) -> OidcProviderOut:
    """Set the tenant's OIDC provider (replacing one it has; a secret left out keeps the stored one).

    Raises ValidationFailed naming the field: an issuer that is not an HTTPS URL (HTTP too with
    ``allow_http``), scopes without ``openid`` or with a bad token, a bad email claim, no client secret for
    a new provider. Audited as ``oidc_provider.set`` (never with the secret).
    """
    issuer = check_issuer(data.issuer, allow_http=allow_http)
    client_id = data.client_id.strip()
    if not client_id:
        raise ValidationFailed("the client id must not be empty", field="client_id")
    scopes = _scopes(data.scopes)
    email_claim = data.email_claim.strip()
    if not _CLAIM.match(email_claim):
        raise ValidationFailed(f"{data.email_claim!r} is not a claim name", field="email_claim")
    slug = _slug_of(uow.session, tenant_id)
    now = uow.clock.now()
    provider = _provider_of(uow.session, tenant_id, for_update=True)
    if provider is None:
        if data.client_secret is None:
            raise ValidationFailed("a new provider needs its client secret", field="client_secret")
        provider = OidcProvider(id=new_id("oidc"), tenant_id=tenant_id, created_at=now)
        uow.session.add(provider)
    if data.client_secret is not None:
        provider.client_secret = data.client_secret
    provider.issuer = issuer
    provider.client_id = client_id
    provider.scopes = " ".join(scopes)
    provider.provision_users = data.provision_users
    provider.email_claim = email_claim
    provider.updated_at = now
    record_audit(
        uow,
        tenant_id=tenant_id,
        action="oidc_provider.set",
        target_type=SUBJECT_OIDC_PROVIDER,
        target_id=provider.id,
        detail={
            "issuer": issuer,
            "client_id": client_id,
            "scopes": scopes,
            "provision_users": data.provision_users,
            "email_claim": email_claim,
            "client_secret_changed": data.client_secret is not None,
        },
    )
    uow.session.flush()
    return _provider_out(provider, slug=slug, public_url=public_url)


def get_oidc_provider(session: Session, *, tenant_id: str, public_url: str) -> OidcProviderOut:
    """Return the tenant's OIDC provider, without its secret; raises OidcNotConfigured."""
    provider = _provider_of(session, tenant_id)
    if provider is None:
        raise OidcNotConfigured("the tenant has no OIDC provider: set one with PUT /v1/auth/oidc/provider")
    return _provider_out(provider, slug=_slug_of(session, tenant_id), public_url=public_url)


def delete_oidc_provider(uow: UnitOfWork, *, tenant_id: str) -> str:
    """Remove the tenant's OIDC provider (sign-ins under way there fail); return its issuer. Raises
    OidcNotConfigured. Audited as ``oidc_provider.deleted``."""
    provider = _provider_of(uow.session, tenant_id, for_update=True)
    if provider is None:
        raise OidcNotConfigured("the tenant has no OIDC provider")
    uow.session.delete(provider)
    uow.session.execute(
        delete(OidcSignIn)
        .where(OidcSignIn.tenant_id == tenant_id)
        .execution_options(synchronize_session=False)
    )
    record_audit(
        uow,
        tenant_id=tenant_id,
        action="oidc_provider.deleted",
        target_type=SUBJECT_OIDC_PROVIDER,
        target_id=provider.id,
        detail={"issuer": provider.issuer, "client_id": provider.client_id},
    )
    return provider.issuer


# -- signing in ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProviderForSignIn:
    """A tenant's provider as a sign-in needs it (the secret included: it never leaves the server)."""

    tenant_id: str
    provider_id: str
    issuer: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    provision_users: bool
    email_claim: str


def _for_sign_in(provider: OidcProvider) -> ProviderForSignIn:
    return ProviderForSignIn(
        tenant_id=provider.tenant_id,
        provider_id=provider.id,
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        scopes=tuple(provider.scopes.split()),
        provision_users=provider.provision_users,
        email_claim=provider.email_claim,
    )


def find_oidc_provider(session: Session, *, tenant_slug: str) -> ProviderForSignIn:
    """Return the OIDC provider of the tenant with this slug; raises OidcNotConfigured (no such tenant
    alike)."""
    tenant = get_tenant_by_slug(session, slug=tenant_slug.strip().lower())
    provider = _provider_of(session, tenant.id) if tenant is not None else None
    if provider is None:
        raise OidcNotConfigured(f"no one signs in to {tenant_slug!r} through an OIDC provider")
    return _for_sign_in(provider)


def oidc_provider_of(session: Session, *, tenant_id: str) -> ProviderForSignIn | None:
    """Return the tenant's OIDC provider as a sign-in needs it, or None."""
    provider = _provider_of(session, tenant_id)
    return _for_sign_in(provider) if provider is not None else None


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """A sign-in sent to the provider: ``state`` goes to the provider and into the browser's cookie."""

    state: str
    nonce: str
    code_verifier: str


def begin_oidc_sign_in(
    uow: UnitOfWork, *, provider: ProviderForSignIn, redirect_uri: str, next_path: str
) -> PendingSignIn:
    """Store a sign-in sent to the provider, valid ``SIGN_IN_LIFETIME_MINUTES``, once; drop those of any
    tenant that expired unused."""
    now = uow.clock.now()
    uow.session.execute(
        delete(OidcSignIn).where(OidcSignIn.expires_at <= now).execution_options(synchronize_session=False)
    )
    pending = PendingSignIn(state=new_token(), nonce=new_token(), code_verifier=new_token() + new_token())
    uow.session.add(
        OidcSignIn(
            id=new_id("oidcs"),
            tenant_id=provider.tenant_id,
            state_digest=digest_of_token(pending.state),
            nonce=pending.nonce,
            code_verifier=pending.code_verifier,
            issuer=provider.issuer,
            redirect_uri=redirect_uri,
            next_path=safe_next(next_path),
            created_at=now,
            expires_at=now + SIGN_IN_LIFETIME,
        )
    )
    return pending


@dataclass(frozen=True, slots=True)
class ClaimedSignIn:
    """A sign-in the provider sent the person back from, spent."""

    tenant_id: str
    nonce: str
    code_verifier: str
    issuer: str
    redirect_uri: str
    next_path: str


def claim_oidc_sign_in(uow: UnitOfWork, *, state: str) -> ClaimedSignIn | None:
    """Spend the sign-in ``state`` names and return it; None for an unknown, used or expired one (an
    expired one is spent too)."""
    found = uow.session.scalar(
        select(OidcSignIn).where(OidcSignIn.state_digest == digest_of_token(state)).with_for_update()
    )
    if found is None:
        return None
    uow.session.delete(found)
    if found.expires_at <= uow.clock.now():
        return None
    return ClaimedSignIn(
        tenant_id=found.tenant_id,
        nonce=found.nonce,
        code_verifier=found.code_verifier,
        issuer=found.issuer,
        redirect_uri=found.redirect_uri,
        next_path=found.next_path,
    )


def _email_of(claims: dict[str, Any], claim: str) -> str:
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip():
        raise OidcTokenInvalid(f"the ID token has no email in its {claim!r} claim", claim=claim)
    verified = claims.get("email_verified")
    if verified is False or (isinstance(verified, str) and verified.lower() == "false"):
        raise OidcTokenInvalid(
            "the provider has not verified the email; verify it there and sign in again",
            claim="email_verified",
        )
    try:
        return normalise_email(value)
    except ValidationFailed:
        raise OidcTokenInvalid(
            f"the ID token's {claim!r} claim is not an email address", claim=claim
        ) from None


def _name_of(claims: dict[str, Any], email: str) -> str:
    name = claims.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()[:200]
    return email.split("@")[0]


def finish_oidc_sign_in(
    uow: UnitOfWork, *, provider: ProviderForSignIn, claims: dict[str, Any], policy: SessionPolicy
) -> SignInOutcome:
    """Open a session for the user whose email the checked ID token ``claims`` carry (in the provider's
    email claim; ``email_verified`` not false), provisioning an agent for an unknown email when the
    provider is set to. A locked account gets the ``locked`` outcome.

    Raises OidcTokenInvalid (no usable email), OidcUserUnknown, OidcUserDisabled. Provisioning publishes
    ``user.created`` (actor ``oidc_provider:<id>``); the sign-in is audited as ``user.signed_in``.
    """
    email = _email_of(claims, provider.email_claim)
    repo = StaffRepository(uow.session, provider.tenant_id)
    user = repo.user_by_email(email, for_update=True)
    provisioned = False
    if user is None:
        if not provider.provision_users:
            raise OidcUserUnknown(f"{email} has no account here; ask an admin to add you", email=email)
        created = create_user(
            uow.acting_for(replace(uow.context, actor=f"{SUBJECT_OIDC_PROVIDER}:{provider.provider_id}")),
            tenant_id=provider.tenant_id,
            email=email,
            name=_name_of(claims, email),
            role=PROVISIONED_ROLE,
        )
        user = repo.user(created.id, for_update=True)
        assert user is not None
        provisioned = True
    if user.disabled_at is not None:
        raise OidcUserDisabled(f"the account of {email} is disabled", email=email)
    if user.locked_until is not None and user.locked_until > uow.clock.now():
        return SignInOutcome("locked", locked_until=user.locked_until)
    outcome = open_session(uow, repo, user, policy=policy)
    record_audit(
        uow.acting_for(replace(uow.context, actor=f"user:{user.id}")),
        tenant_id=provider.tenant_id,
        action="user.signed_in",
        target_type=SUBJECT_USER,
        target_id=user.id,
        detail={
            "through": "oidc",
            "issuer": provider.issuer,
            "subject": str(claims.get("sub")),
            "provisioned": provisioned,
        },
    )
    return outcome
