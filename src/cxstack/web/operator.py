"""``/v1/operator``: tenants, their keys and their audit logs, for operators.

Every route takes an operator key (``cxstack operator-keys create``); a tenant's key is refused (401), as
an operator key is on tenant routes. Writes are audited in the tenant's log as ``operator_key:<id>``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.audit.schemas import AuditPage
from cxstack.governance.tenants import service
from cxstack.governance.tenants.schemas import (
    ApiKeyCreate,
    ApiKeyOut,
    ApiKeyPage,
    IssuedApiKey,
    TenantCreate,
    TenantOut,
    TenantPage,
)
from cxstack.web.auth import Caller, Operator, operator, runtime_of
from cxstack.web.governance import Filters, read_audit
from cxstack.web.responses import JSON, dump, read, write

router = APIRouter(prefix="/v1/operator", tags=["operator"])
Op = Annotated[Operator, Depends(operator)]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(description="next_cursor of a previous page.")]


def _for_tenant(who: Operator, tenant_id: str) -> Caller:
    """The operator acting on one tenant: its writes are that tenant's (idempotency, audit)."""
    return Caller(
        tenant_id=tenant_id,
        api_key_id=who.operator_key_id,
        correlation_id=who.correlation_id,
        actor=who.actor,
    )


async def tenant_of(request: Request, tenant: str) -> TenantOut:
    """The tenant a path names by id or slug; raises NotFound."""
    return await runtime_of(request).db.read(lambda session: service.find_tenant(session, tenant=tenant))


@router.post("/tenants", status_code=201, response_model=TenantOut)
async def create_tenant(request: Request, who: Op, data: TenantCreate) -> Response:
    """Create a tenant. 409 for a slug already taken (so a retried creation cannot make two)."""

    def create(uow: UnitOfWork) -> TenantOut:
        return TenantOut.model_validate(service.create_tenant(uow, name=data.name, slug=data.slug))

    created = await runtime_of(request).db.write(create, context=who.context())
    return Response(dump(created), status_code=201, media_type=JSON)


@router.get("/tenants", response_model=TenantPage)
async def list_tenants(request: Request, who: Op, cursor: Cursor = None, limit: Limit = 50) -> Response:
    """Every tenant, oldest first, one page at a time."""
    return await read(request, lambda session: service.list_tenants(session, cursor=cursor, limit=limit))


@router.get("/tenants/{tenant_id}", response_model=TenantOut)
async def get_tenant(request: Request, who: Op, tenant_id: str) -> Response:
    """One tenant, by id or slug (every ``{tenant_id}`` here takes either)."""
    return Response(dump(await tenant_of(request, tenant_id)), media_type=JSON)


@router.post("/tenants/{tenant_id}/keys", status_code=201, response_model=IssuedApiKey)
async def issue_key(request: Request, who: Op, tenant_id: str, data: ApiKeyCreate) -> Response:
    """Issue a key to the tenant with the scopes given (all of read, write, admin by default). The answer
    holds the key's secret (``key``): the only time it is shown. ``Idempotency-Key`` is not honoured here,
    as replaying the answer would mean storing the secret: a retry may issue a second key (revoke it)."""

    tenant = await tenant_of(request, tenant_id)

    def issue(uow: UnitOfWork) -> IssuedApiKey:
        return service.issue_api_key(uow, tenant_id=tenant.id, name=data.name, scopes=data.scopes)

    issued = await runtime_of(request).db.write(issue, context=who.context())
    return Response(dump(issued), status_code=201, media_type=JSON)


@router.get("/tenants/{tenant_id}/keys", response_model=ApiKeyPage)
async def list_keys(
    request: Request, who: Op, tenant_id: str, cursor: Cursor = None, limit: Limit = 50
) -> Response:
    """The tenant's keys, oldest first, revoked ones included; never a secret. 404 for an unknown tenant."""

    tenant = await tenant_of(request, tenant_id)
    return await read(
        request,
        lambda session: service.list_api_keys(session, tenant_id=tenant.id, cursor=cursor, limit=limit),
    )


@router.post("/tenants/{tenant_id}/keys/{api_key_id}/revoke", response_model=ApiKeyOut)
async def revoke_key(request: Request, who: Op, tenant_id: str, api_key_id: str) -> Response:
    """Revoke a key of the tenant: every process refuses it from its next request. Revoking a revoked key
    changes nothing; 404 for a key of another tenant."""
    tenant = await tenant_of(request, tenant_id)
    return await write(
        request,
        _for_tenant(who, tenant.id),
        lambda uow: service.revoke_api_key(uow, tenant_id=tenant.id, api_key_id=api_key_id),
    )


@router.get("/tenants/{tenant_id}/audit", response_model=AuditPage)
async def tenant_audit(request: Request, who: Op, tenant_id: str, filters: Filters) -> Response:
    """The tenant's audit log, newest first, with the filters of ``GET /v1/audit``; 404 for an unknown
    tenant."""
    tenant = await tenant_of(request, tenant_id)
    return await read_audit(request, tenant_id=tenant.id, filters=filters)
