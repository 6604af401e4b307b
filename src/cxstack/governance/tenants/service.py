"""Creating tenants, issuing and checking their API keys."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.backbone.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from cxstack.backbone.ids import new_id
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.tenants.models import ApiKey, Tenant
from cxstack.governance.tenants.schemas import (
    ApiKeyIssued,
    ApiKeyRevoked,
    IssuedApiKey,
    TenantCreated,
)

KEY_PREFIX = "cxk_"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_tenant(uow: UnitOfWork, *, name: str, slug: str) -> Tenant:
    """Create a tenant; raises ValidationFailed for a bad slug, Conflict for a taken one.

    Publishes ``tenant.created``.
    """
    if not name.strip():
        raise ValidationFailed("tenant name must not be empty", field="name")
    if not _SLUG.match(slug):
        raise ValidationFailed(
            "slug must be 2-63 lowercase letters, digits or dashes, starting with a letter or digit",
            field="slug",
        )
    if uow.session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict(f"a tenant with slug {slug!r} already exists", field="slug")
    tenant = Tenant(id=new_id("ten"), name=name.strip(), slug=slug, created_at=uow.clock.now())
    uow.session.add(tenant)
    uow.publish(
        "tenant.created",
        tenant_id=tenant.id,
        subject=tenant.id,
        data=TenantCreated(tenant_id=tenant.id, name=tenant.name, slug=slug),
    )
    return tenant


def issue_api_key(uow: UnitOfWork, *, tenant_id: str, name: str, key: str | None = None) -> IssuedApiKey:
    """Issue an API key for a tenant and return it with its secret (shown once).

    ``key`` lets a demo or test choose the secret. Raises NotFound for an unknown tenant.
    Publishes ``api_key.issued``.
    """
    if uow.session.get(Tenant, tenant_id) is None:
        raise NotFound(f"tenant {tenant_id} does not exist", field="tenant_id")
    secret = key or KEY_PREFIX + secrets.token_urlsafe(32)
    if not secret.startswith(KEY_PREFIX) or len(secret) < 24:
        raise ValidationFailed(f"an API key starts with {KEY_PREFIX!r} and has at least 24 characters")
    api_key = ApiKey(
        id=new_id("key"),
        tenant_id=tenant_id,
        name=name,
        prefix=secret[:10],
        digest=digest_of(secret),
        created_at=uow.clock.now(),
        revoked_at=None,
    )
    uow.session.add(api_key)
    uow.publish(
        "api_key.issued",
        tenant_id=tenant_id,
        subject=tenant_id,
        data=ApiKeyIssued(api_key_id=api_key.id, tenant_id=tenant_id, name=name, prefix=api_key.prefix),
    )
    return IssuedApiKey(id=api_key.id, tenant_id=tenant_id, name=name, key=secret)


def revoke_api_key(uow: UnitOfWork, *, tenant_id: str, api_key_id: str) -> None:
    """Revoke a key of the tenant; raises NotFound. Publishes ``api_key.revoked``."""
    api_key = uow.session.scalar(select(ApiKey).where(ApiKey.id == api_key_id, ApiKey.tenant_id == tenant_id))
    if api_key is None:
        raise NotFound(f"API key {api_key_id} does not exist")
    if api_key.revoked_at is None:
        api_key.revoked_at = uow.clock.now()
        uow.publish(
            "api_key.revoked",
            tenant_id=tenant_id,
            subject=tenant_id,
            data=ApiKeyRevoked(api_key_id=api_key_id, tenant_id=tenant_id),
        )


def authenticate(session: Session, *, key: str) -> tuple[str, str]:
    """Return ``(tenant_id, api_key_id)`` for a valid, unrevoked key; raises Unauthorized."""
    api_key = session.scalar(select(ApiKey).where(ApiKey.digest == digest_of(key)))
    if api_key is None or api_key.revoked_at is not None:
        raise Unauthorized("the API key is not valid")
    return api_key.tenant_id, api_key.id


def get_tenant_by_slug(session: Session, *, slug: str) -> Tenant | None:
    return session.scalar(select(Tenant).where(Tenant.slug == slug))
