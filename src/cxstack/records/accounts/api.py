"""``/v1/accounts``: the companies customers belong to.

An account's answers carry its ``version`` as a strong ``ETag``; ``PATCH`` with ``If-Match`` is refused
with 412 when someone else changed the account since (see ``cxstack.web.preconditions``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from cxstack.kit.pagination import Page, PageOut
from cxstack.records.accounts import service
from cxstack.records.accounts.schemas import AccountCreate, AccountOut, AccountUpdate
from cxstack.records.customers import service as customers
from cxstack.records.customers.schemas import CustomerOut
from cxstack.web.auth import Caller, caller
from cxstack.web.preconditions import IfMatch, etag_responses, expected_versions, with_entity_tag
from cxstack.web.responses import read, write

router = APIRouter(prefix="/v1", tags=["accounts"])
Who = Annotated[Caller, Depends(caller)]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.post("/accounts", status_code=201, response_model=AccountOut, responses=etag_responses(201))
async def create_account(request: Request, who: Who, data: AccountCreate) -> Response:
    """Create an account; a domain may belong to one account of a tenant only."""
    created = await write(
        request,
        who,
        lambda uow: service.create_account(uow, tenant_id=who.tenant_id, data=data),
        status=201,
    )
    return with_entity_tag(created)


@router.get("/accounts", response_model=PageOut[AccountOut])
async def list_accounts(
    request: Request,
    who: Who,
    cursor: str | None = None,
    limit: Limit = 50,
    plan: str | None = None,
    domain: str | None = None,
    q: Annotated[str | None, Query(description="Part of the account's name.")] = None,
) -> Response:
    """List accounts, oldest first, one page at a time (``next_cursor`` fetches the next)."""
    return await read(
        request,
        lambda session: service.list_accounts(
            session,
            tenant_id=who.tenant_id,
            cursor=cursor,
            limit=limit,
            plan=plan,
            domain=domain,
            name_contains=q,
        ),
    )


@router.get("/accounts/{account_id}", response_model=AccountOut, responses=etag_responses())
async def get_account(request: Request, who: Who, account_id: str) -> Response:
    """Return the account; ``ETag`` is its version, for ``If-Match`` on a change."""
    found = await read(
        request,
        lambda session: service.get_account(session, tenant_id=who.tenant_id, account_id=account_id),
    )
    return with_entity_tag(found)


@router.patch("/accounts/{account_id}", response_model=AccountOut, responses=etag_responses())
async def update_account(
    request: Request, who: Who, account_id: str, data: AccountUpdate, if_match: IfMatch = None
) -> Response:
    """Change the fields given; ``attributes`` are merged key by key (a null value removes a key).

    With ``If-Match`` (the ``ETag`` of the read the change was made on), an account changed since is left
    as it is and the answer is 412."""
    expected = expected_versions(if_match)
    updated = await write(
        request,
        who,
        lambda uow: service.update_account(
            uow, tenant_id=who.tenant_id, account_id=account_id, data=data, expected_versions=expected
        ),
    )
    return with_entity_tag(updated)


@router.get("/accounts/{account_id}/customers", response_model=PageOut[CustomerOut])
async def list_account_customers(
    request: Request, who: Who, account_id: str, cursor: str | None = None, limit: Limit = 50
) -> Response:
    """List the customers of an account, oldest first; 404 for an account that does not exist."""

    def customers_of(session: Session) -> Page[Any]:
        service.require_account(session, tenant_id=who.tenant_id, account_id=account_id)
        return customers.list_customers(
            session, tenant_id=who.tenant_id, cursor=cursor, limit=limit, account_id=account_id
        )

    return await read(request, customers_of)
