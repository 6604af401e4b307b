"""``/v1/customers/{customer_id}/timeline``: everything that happened with a customer, in order."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from cxstack.kit.pagination import PageOut
from cxstack.records.conversations.schemas import Channel
from cxstack.records.timeline import service
from cxstack.records.timeline.schemas import TimelineEntryOut
from cxstack.web.auth import Caller, caller
from cxstack.web.responses import query_params, query_schema, read, read_prepared

router = APIRouter(prefix="/v1", tags=["timeline"])
Who = Annotated[Caller, Depends(caller)]


class TimelineQuery(BaseModel):
    """The query of a timeline page."""

    model_config = ConfigDict(extra="ignore")

    cursor: str | None = Field(default=None, description="Where the page starts: a page's next_cursor.")
    limit: int = Field(default=50, ge=1, le=200, description="Entries on the page.")
    channel: Channel | None = Field(default=None, description="Only the entries of this channel.")
    order: Literal["asc", "desc"] = Field(default="asc", description="asc: oldest first; desc: newest first.")


@router.get(
    "/customers/{customer_id}/timeline",
    response_model=PageOut[TimelineEntryOut],
    openapi_extra=query_schema(TimelineQuery),
)
async def customer_timeline(request: Request, who: Who, customer_id: str) -> Response:
    """A customer's interactions on every channel, oldest first (``order=desc``: newest first); a
    signed-in person sees no entry of a conversation they do not see."""
    query = query_params(request, TimelineQuery)
    visibility = who.visibility()
    if visibility is not None:  # a signed-in person: without the conversations they do not see
        return await read(
            request,
            lambda session: service.customer_timeline(
                session,
                tenant_id=who.tenant_id,
                customer_id=customer_id,
                cursor=query.cursor,
                limit=query.limit,
                channel=query.channel,
                newest_first=query.order == "desc",
                visibility=visibility,
            ),
        )
    return await read_prepared(
        request,
        lambda rows: service.read_customer_timeline(
            rows,
            tenant_id=who.tenant_id,
            customer_id=customer_id,
            cursor=query.cursor,
            limit=query.limit,
            channel=query.channel,
            newest_first=query.order == "desc",
        ),
        one_statement=True,  # the page; whether the customer exists is asked only when it is empty
    )
