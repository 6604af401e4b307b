"""What the workspace's pages show that the server knows: who is signed in (with their tenant) and how a
tenant's people may sign in."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from cxstack.governance.staff.oidc import oidc_provider_of
from cxstack.governance.staff.sessions import SessionHolder, current_user
from cxstack.governance.tenants.service import find_tenant, get_tenant_by_slug


@dataclass(frozen=True, slots=True)
class SignedInHeader:
    """The workspace header of a signed-in person: their tenant, name and role, and the CSRF token the
    page's state-changing requests carry."""

    tenant_name: str
    tenant_slug: str
    user_id: str
    name: str
    email: str
    role: str
    csrf_token: str


@dataclass(frozen=True, slots=True)
class SignInOptions:
    """How people of a tenant may sign in: with a password always, through its OIDC provider when it has
    one (``oidc_start``: where that sign-in starts). ``tenant`` is the slug asked for, as typed."""

    tenant: str
    oidc_start: str | None


def header_of(session: Session, *, holder: SessionHolder) -> SignedInHeader:
    """Return the header of the person behind a valid session; raises Unauthorized when the user is gone."""
    signed_in = current_user(session, holder=holder)
    tenant = find_tenant(session, tenant=holder.tenant_id)
    return SignedInHeader(
        tenant_name=tenant.name,
        tenant_slug=tenant.slug,
        user_id=signed_in.user.id,
        name=signed_in.user.name,
        email=signed_in.user.email,
        role=signed_in.user.role,
        csrf_token=signed_in.csrf_token,
    )


def sign_in_options(session: Session, *, tenant: str | None, next_path: str) -> SignInOptions:
    """Return how people of the tenant with slug ``tenant`` sign in (an unknown slug or none: with a
    password, as for a tenant without OIDC, so that the page tells nobody which tenants exist)."""
    slug = (tenant or "").strip().lower()
    found = get_tenant_by_slug(session, slug=slug) if slug else None
    provider = oidc_provider_of(session, tenant_id=found.id) if found is not None else None
    start = f"/v1/auth/oidc/{found.slug}/start?next={next_path}" if found and provider else None
    return SignInOptions(tenant=slug, oidc_start=start)
