"""``/v1/audit`` and ``/v1/api-keys``: a tenant's audit log and its keys, for keys with the ``admin`` scope.

The audit filters (``AuditFilters``) are shared with the operator's view of a tenant's log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from cxstack.governance.audit.schemas import AuditPage
from cxstack.governance.audit.service import list_audit_page
from cxstack.governance.tenants.schemas import ApiKeyPage
from cxstack.governance.tenants.service import list_api_keys
from cxstack.web.auth import Caller, admin_caller
from cxstack.web.responses import read

router = APIRouter(prefix="/v1", tags=["audit"])
Admin = Annotated[Caller, Depends(admin_caller)]
Limit = Annotated[int, Query(ge=1, le=200)]


class AuditFilters(BaseModel):
    actor: str | None = Field(
        default=None,
        max_length=120,
        description="Only entries by this actor (api_key:<id>, user:<id>, cli:<user>…).",
    )
    action: str | None = Field(default=None, max_length=80, description="Only entries of this action.")
    subject: str | None = Field(
        default=None, max_length=64, description="Only entries about this record (its id)."
    )
    since: datetime | None = Field(
        default=None, description="Only entries at or after this time (ISO 8601; UTC if no offset)."
    )
    until: datetime | None = Field(default=None, description="Only entries before this time (ISO 8601).")
    cursor: str | None = Field(default=None, description="next_cursor of a previous page.")
    limit: int = Field(default=50, ge=1, le=200)


Filters = Annotated[AuditFilters, Query()]


async def read_audit(request: Request, *, tenant_id: str, filters: AuditFilters) -> Response:
    return await read(
        request,
        lambda session: list_audit_page(
            session,
            tenant_id=tenant_id,
            actor=filters.actor,
            action=filters.action,
            subject=filters.subject,
            since=filters.since,
            until=filters.until,
            cursor=filters.cursor,
            limit=filters.limit,
        ),
    )


@router.get("/audit", response_model=AuditPage)
async def list_audit(request: Request, who: Admin, filters: Filters) -> Response:
    """The tenant's audit log, newest first: who did what to which record (key issues and revocations,
    merges, refused webhooks…), one page at a time. 422 names a filter that cannot be read."""
    return await read_audit(request, tenant_id=who.tenant_id, filters=filters)


@router.get("/api-keys", response_model=ApiKeyPage)
async def list_keys(
    request: Request,
    who: Admin,
    cursor: Annotated[str | None, Query(description="next_cursor of a previous page.")] = None,
    limit: Limit = 50,
) -> Response:
    """The tenant's API keys, oldest first, revoked ones included: prefix, name, scopes, when created, last
    used (to the minute) and revoked. Never a key's secret."""
    return await read(
        request, lambda session: list_api_keys(session, tenant_id=who.tenant_id, cursor=cursor, limit=limit)
    )
