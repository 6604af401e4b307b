"""``/v1/customers/{id}/merge`` and ``/v1/merges``: merging customers and undoing merges."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.responses import Response

from cxstack.records.merges import service
from cxstack.records.merges.schemas import MergeOut, MergeRequest
from cxstack.web.auth import Caller, caller
from cxstack.web.responses import read, write

router = APIRouter(prefix="/v1", tags=["customers"])
Who = Annotated[Caller, Depends(caller)]


class MergeList(BaseModel):
    data: list[MergeOut]


@router.post("/customers/{customer_id}/merge", status_code=201, response_model=MergeOut)
async def merge_customer(request: Request, who: Who, customer_id: str, data: MergeRequest) -> Response:
    """Merge ``source_customer_id`` into this customer: its identities and history move here (audited)."""
    return await write(
        request,
        who,
        lambda uow: service.merge_customers(
            uow,
            tenant_id=who.tenant_id,
            target_customer_id=customer_id,
            source_customer_id=data.source_customer_id,
        ),
        status=201,
    )


@router.get("/customers/{customer_id}/merges", response_model=MergeList)
async def list_merges(request: Request, who: Who, customer_id: str) -> Response:
    return await read(
        request,
        lambda session: MergeList(
            data=service.list_merges(session, tenant_id=who.tenant_id, customer_id=customer_id)
        ),
    )


@router.post("/merges/{merge_id}/undo", response_model=MergeOut)
async def undo_merge(request: Request, who: Who, merge_id: str) -> Response:
    """Undo a merge: everything it moved goes back to the customer it came from (audited)."""
    return await write(
        request, who, lambda uow: service.undo_merge(uow, tenant_id=who.tenant_id, merge_id=merge_id)
    )
