"""Creating tenants, issuing, listing, revoking and checking their API keys (audited)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from cxstack.backbone.prepared import PreparedRead, Rows
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.audit.service import record_audit
from cxstack.governance.tenants.models import ApiKey, Tenant
from cxstack.governance.tenants.schemas import (
    SCOPES,
    ApiKeyIssued,
    ApiKeyOut,
    ApiKeyRevoked,
    IssuedApiKey,
    TenantCreated,
    TenantOut,
)
from cxstack.kit.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page, paginate

KEY_PREFIX = "cxk_"
#: Operator keys start with this instead (``cxstack.governance.tenants.operators``).
OPERATOR_KEY_PREFIX = "cxo_"
#: ``last_used_at`` is written at most this often per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class WrongKeyKind(Unauthorized):
    """An operator key on a tenant route, or a tenant key on an operator route."""

    code = "wrong_key_kind"


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """Who a valid tenant key belongs to and what it may do."""

    tenant_id: str
    api_key_id: str
    scopes: frozenset[str]
    last_used_at: datetime | None


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_secret(prefix: str, key: str | None = None) -> str:
    """Return ``key`` (a secret chosen by a demo or a test) or a fresh random one; raises ValidationFailed
    for a chosen key without ``prefix`` or shorter than 24 characters."""
    secret = key or prefix + secrets.token_urlsafe(32)
    if not secret.startswith(prefix) or len(secret) < 24:
        raise ValidationFailed(
            f"the key must start with {prefix!r} and have at least 24 characters", field="key"
        )
    return secret


def create_tenant(uow: UnitOfWork, *, name: str, slug: str) -> Tenant:
    """Create a tenant; raises ValidationFailed for a bad name or slug, Conflict for a taken slug.

    Publishes ``tenant.created``; writes an audit entry (``tenant.created``) in the new tenant's log.
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
        TenantCreated(tenant_id=tenant.id, name=tenant.name, slug=slug),
        tenant_id=tenant.id,
        subject=tenant.id,
    )
    record_audit(
        uow,
        tenant_id=tenant.id,
        action="tenant.created",
        target_type="tenant",
        target_id=tenant.id,
        detail={"name": tenant.name, "slug": slug},
    )
    return tenant


def list_tenants(session: Session, *, cursor: str | None, limit: int) -> Page[TenantOut]:
    """Return a page of every tenant, oldest first (an operator's view); raises ValidationFailed."""
    page = paginate(session, select(Tenant), id_column=Tenant.id, cursor=cursor, limit=limit)
    return Page(items=[TenantOut.model_validate(t) for t in page.items], next_cursor=page.next_cursor)


def find_tenant(session: Session, *, tenant: str) -> TenantOut:
    """Return the tenant with this id or slug; raises NotFound."""
    found = session.get(Tenant, tenant) or get_tenant_by_slug(session, slug=tenant)
    if found is None:
        raise NotFound(f"tenant {tenant} does not exist", field="tenant_id")
    return TenantOut.model_validate(found)


def _scopes(scopes: Sequence[str] | None) -> list[str]:
    if scopes is None:
        return list(SCOPES)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValidationFailed(
            f"unknown scope {unknown[0]!r}: scopes are {', '.join(SCOPES)}",
            field="scopes",
            allowed=list(SCOPES),
        )
    if not scopes:
        raise ValidationFailed("a key needs at least one scope", field="scopes")
    return [scope for scope in SCOPES if scope in scopes]


def issue_api_key(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    name: str,
    scopes: Sequence[str] | None = None,
    key: str | None = None,
) -> IssuedApiKey:
    """Issue an API key for a tenant and return it with its secret (shown once).

    ``scopes`` defaults to all of ``SCOPES``; ``key`` lets a demo or test choose the secret. Raises NotFound
    for an unknown tenant, ValidationFailed for an empty name, an unknown scope or a bad chosen key.
    Publishes ``api_key.issued``; writes an audit entry (``api_key.issued``).
    """
    if uow.session.get(Tenant, tenant_id) is None:
        raise NotFound(f"tenant {tenant_id} does not exist", field="tenant_id")
    if not name.strip():
        raise ValidationFailed("a key's name must not be empty", field="name")
    granted = _scopes(scopes)
    secret = new_secret(KEY_PREFIX, key)
    api_key = ApiKey(
        id=new_id("key"),
        tenant_id=tenant_id,
        name=name.strip(),
        prefix=secret[:10],
        digest=digest_of(secret),
        scopes=granted,
        created_at=uow.clock.now(),
        revoked_at=None,
        last_used_at=None,
    )
    uow.session.add(api_key)
    uow.publish(
        ApiKeyIssued(
            api_key_id=api_key.id,
            tenant_id=tenant_id,
            name=api_key.name,
            prefix=api_key.prefix,
            scopes=granted,
        ),
        tenant_id=tenant_id,
        subject=tenant_id,
    )
    record_audit(
        uow,
        tenant_id=tenant_id,
        action="api_key.issued",
        target_type="api_key",
        target_id=api_key.id,
        detail={"name": api_key.name, "prefix": api_key.prefix, "scopes": granted},
    )
    return IssuedApiKey(**ApiKeyOut.model_validate(api_key).model_dump(), key=secret)


def list_api_keys(session: Session, *, tenant_id: str, cursor: str | None, limit: int) -> Page[ApiKeyOut]:
    """Return a page of the tenant's keys, revoked ones included, oldest first; raises ValidationFailed."""
    query = select(ApiKey).where(ApiKey.tenant_id == tenant_id)
    page = paginate(session, query, id_column=ApiKey.id, cursor=cursor, limit=limit)
    return Page(items=[ApiKeyOut.model_validate(k) for k in page.items], next_cursor=page.next_cursor)


def revoke_api_key(uow: UnitOfWork, *, tenant_id: str, api_key_id: str) -> ApiKeyOut:
    """Revoke a key of the tenant and return it; revoking a revoked key changes nothing. Raises NotFound.

    Publishes ``api_key.revoked``; writes an audit entry (``api_key.revoked``).
    """
    api_key = uow.session.scalar(select(ApiKey).where(ApiKey.id == api_key_id, ApiKey.tenant_id == tenant_id))
    if api_key is None:
        raise NotFound(f"API key {api_key_id} does not exist", field="api_key_id")
    if api_key.revoked_at is None:
        api_key.revoked_at = uow.clock.now()
        uow.publish(
            ApiKeyRevoked(api_key_id=api_key_id, tenant_id=tenant_id), tenant_id=tenant_id, subject=tenant_id
        )
        record_audit(
            uow,
            tenant_id=tenant_id,
            action="api_key.revoked",
            target_type="api_key",
            target_id=api_key_id,
            detail={"name": api_key.name, "prefix": api_key.prefix},
        )
    return ApiKeyOut.model_validate(api_key)


def check_key_kind(key: str) -> None:
    """Raises WrongKeyKind for an operator key presented on a tenant route."""
    if key.startswith(OPERATOR_KEY_PREFIX):
        raise WrongKeyKind("an operator key is not valid on tenant routes; use a tenant API key (cxk_…)")


_api_keys = cast(Table, ApiKey.__table__)
#: The read every request on a tenant route makes, prepared (see ``cxstack.backbone.prepared``).
_KEY_BY_DIGEST = PreparedRead(
    select(
        _api_keys.c.tenant_id,
        _api_keys.c.id,
        _api_keys.c.scopes,
        _api_keys.c.revoked_at,
        _api_keys.c.last_used_at,
    ).where(_api_keys.c.digest == bindparam("digest"))
)


def find_key_holders(rows: Rows, *, digests: Collection[str]) -> dict[str, KeyHolder]:
    """Return the holders of the valid, unrevoked tenant keys among ``digests``, by digest (many requests'
    keys in one read transaction, a point read by the unique digest each)."""
    found: dict[str, KeyHolder] = {}
    for digest in digests:
        row = rows.first(_KEY_BY_DIGEST, digest=digest)
        if row is not None and row["revoked_at"] is None:
            found[digest] = KeyHolder(
                tenant_id=row["tenant_id"],
                api_key_id=row["id"],
                scopes=frozenset(row["scopes"]),
                last_used_at=row["last_used_at"],
            )
    return found


def authenticate(rows: Rows, *, key: str) -> KeyHolder:
    """Return the holder of a valid, unrevoked tenant key; raises WrongKeyKind for an operator key,
    Unauthorized for any other key that is not valid (unknown or revoked alike)."""
    check_key_kind(key)
    digest = digest_of(key)
    holder = find_key_holders(rows, digests=[digest]).get(digest)
    if holder is None:
        raise Unauthorized("the API key is not valid")
    return holder


def record_api_key_use(uow: UnitOfWork, *, api_key_id: str) -> bool:
    """Set a key's ``last_used_at`` to now unless it was set less than ``LAST_USED_RESOLUTION`` ago (by
    any process); return whether it was written."""
    now = uow.clock.now()
    result = uow.session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == api_key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def get_tenant_by_slug(session: Session, *, slug: str) -> Tenant | None:
    return session.scalar(select(Tenant).where(Tenant.slug == slug))
