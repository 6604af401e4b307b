"""``/v1/customers/{customer_id}/timeline``: everything that happened with a customer, in order."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cxstack.kit.pagination import PageOut
from cxstack.records.conversations.schemas import Channel
from cxstack.records.timeline import service
from cxstack.records.timeline.schemas import TimelineEntryOut
from cxstack.web.auth import Caller, caller
from cxstack.web.responses import read_prepared

router = APIRouter(prefix="/v1", tags=["timeline"])
Who = Annotated[Caller, Depends(caller)]


@router.get("/customers/{customer_id}/timeline", response_model=PageOut[TimelineEntryOut])
async def customer_timeline(
    request: Request,
    who: Who,
    customer_id: str,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    channel: Channel | None = None,
    order: Literal["asc", "desc"] = "asc",
) -> Response:
    """A customer's interactions on every channel, oldest first (``order=desc``: newest first)."""
    return await read_prepared(
        request,
        lambda rows: service.read_customer_timeline(
            rows,
            tenant_id=who.tenant_id,
            customer_id=customer_id,
            cursor=cursor,
            limit=limit,
            channel=channel,
            newest_first=order == "desc",
        ),
        one_statement=True,  # the page; whether the customer exists is asked only when it is empty
    )
