"""``/v1/customers``: customers, their identities, and lookup by any identity.

A customer's answers carry its ``version`` as a strong ``ETag``; ``PATCH`` with ``If-Match`` is refused
with 412 when someone else changed the customer since (see ``cxstack.web.preconditions``). ``PATCH``
without it is not checked: a client that lets people edit a customer they read sends it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from cxstack.kit.pagination import PageOut
from cxstack.records.customers import service
from cxstack.records.customers.identities import IdentityKind
from cxstack.records.customers.schemas import (
    CustomerCreate,
    CustomerOut,
    CustomerUpdate,
    IdentityIn,
    IdentityOut,
)
from cxstack.web.auth import Caller, caller
from cxstack.web.direct import direct
from cxstack.web.preconditions import IfMatch, etag_responses, expected_versions, with_entity_tag
from cxstack.web.responses import query_params, query_schema, read, read_prepared, write, write_together

router = APIRouter(prefix="/v1", tags=["customers"])
Who = Annotated[Caller, Depends(caller)]


@router.post("/customers", status_code=201, response_model=CustomerOut, responses=etag_responses(201))
@direct(CustomerCreate)
async def create_customer(request: Request, who: Who, data: CustomerCreate) -> Response:
    """Create a customer; its email, phone and any identities given resolve to it from now on."""
    created = await write_together(
        request,
        who,
        service.create_customers,
        service.CustomerCreation(who.tenant_id, data),
        lambda uow: service.create_customer(uow, tenant_id=who.tenant_id, data=data),
        status=201,
    )
    return with_entity_tag(created)


@router.get("/customers", response_model=PageOut[CustomerOut])
async def list_customers(
    request: Request,
    who: Who,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    email: str | None = None,
    phone: str | None = None,
    account_id: str | None = None,
    q: Annotated[str | None, Query(description="Part of the customer's name.")] = None,
    include_merged: bool = False,
    region: str = "US",
    tag: Annotated[str | None, Query(description="Only customers with this tag.")] = None,
) -> Response:
    """List customers, oldest first, one page at a time (``next_cursor`` fetches the next)."""
    return await read(
        request,
        lambda session: service.list_customers(
            session,
            tenant_id=who.tenant_id,
            cursor=cursor,
            limit=limit,
            email=email,
            phone=phone,
            account_id=account_id,
            name_contains=q,
            include_merged=include_merged,
            region=region,
            tag=tag,
        ),
    )


class LookupQuery(BaseModel):
    """The query of a lookup: an identity of some kind."""

    model_config = ConfigDict(extra="ignore")

    kind: IdentityKind = Field(description="What kind of identity ``value`` is.")
    value: str = Field(description="The identity as written anywhere: a phone in any format, say.")
    system: str = Field(default="", description="The external system, for ``external`` identities.")
    region: str = Field(default="US", description="Where a phone without a country code is read.")


@router.get("/customers/lookup", response_model=CustomerOut, openapi_extra=query_schema(LookupQuery))
async def lookup_customer(request: Request, who: Who) -> Response:
    """Find the customer an identity (email, phone in any format, external id...) resolves to."""
    query = query_params(request, LookupQuery)
    return await read_prepared(
        request,
        lambda rows: service.read_customer_by_identity(
            rows,
            tenant_id=who.tenant_id,
            kind=query.kind,
            value=query.value,
            system=query.system,
            region=query.region,
        ),
        one_statement=True,  # the customer with its identities; a merge's survivor, if any, is read after
    )


@router.get("/customers/{customer_id}", response_model=CustomerOut, responses=etag_responses())
async def get_customer(request: Request, who: Who, customer_id: str) -> Response:
    """Return the customer with its identities; ``ETag`` is its version, for ``If-Match`` on a change."""
    found = await read_prepared(
        request,
        lambda rows: service.read_customer(rows, tenant_id=who.tenant_id, customer_id=customer_id),
        one_statement=True,
    )
    return with_entity_tag(found)


@router.patch("/customers/{customer_id}", response_model=CustomerOut, responses=etag_responses())
async def update_customer(
    request: Request, who: Who, customer_id: str, data: CustomerUpdate, if_match: IfMatch = None
) -> Response:
    """Change the fields given; ``attributes`` are merged key by key (a null value removes a key).

    With ``If-Match`` (the ``ETag`` of the read the change was made on), a customer changed since is left
    as it is and the answer is 412."""
    expected = expected_versions(if_match)
    updated = await write(
        request,
        who,
        lambda uow: service.update_customer(
            uow, tenant_id=who.tenant_id, customer_id=customer_id, data=data, expected_versions=expected
        ),
    )
    return with_entity_tag(updated)


@router.post("/customers/{customer_id}/identities", status_code=201, response_model=IdentityOut)
async def link_identity(
    request: Request, who: Who, customer_id: str, data: IdentityIn, region: str = "US"
) -> Response:
    return await write(
        request,
        who,
        lambda uow: service.link_identity(
            uow, tenant_id=who.tenant_id, customer_id=customer_id, data=data, region=region
        ),
        status=201,
    )


@router.delete("/customers/{customer_id}/identities/{identity_id}", status_code=204)
async def unlink_identity(request: Request, who: Who, customer_id: str, identity_id: str) -> Response:
    return await write(
        request,
        who,
        lambda uow: service.unlink_identity(
            uow, tenant_id=who.tenant_id, customer_id=customer_id, identity_id=identity_id
        ),
        status=204,
    )
