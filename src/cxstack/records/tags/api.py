"""``/v1/tags`` and ``/v1/{customers|cases|conversations}/{id}/tags``: tagging records.

Tag names may contain ``/``: ``PUT /v1/cases/cas_1/tags/billing/refund`` puts the tag ``billing/refund``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cxstack.kit.pagination import PageOut
from cxstack.records.tags import service
from cxstack.records.tags.schemas import TagIn, TagOut, TargetTagsOut
from cxstack.web.auth import Caller, caller
from cxstack.web.responses import read, write

router = APIRouter(prefix="/v1", tags=["tags"])
Who = Annotated[Caller, Depends(caller)]

#: The collections whose records take tags, and the target type each one's records are.
TAGGABLE = {"customers": "customer", "cases": "case", "conversations": "conversation"}


@router.get("/tags", response_model=PageOut[TagOut])
async def list_tags(
    request: Request,
    who: Who,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """List the tenant's tags, oldest first, one page at a time."""
    return await read(
        request,
        lambda session: service.list_tags(session, tenant_id=who.tenant_id, cursor=cursor, limit=limit),
    )


@router.put("/tags/{tag:path}", response_model=TagOut)
async def put_tag(request: Request, who: Who, tag: str, data: TagIn) -> Response:
    """Create a tag if it is new and set its colour."""
    return await write(
        request,
        who,
        lambda uow: service.put_tag(uow, tenant_id=who.tenant_id, tag=tag, colour=data.colour),
    )


def _add_target_routes(collection: str, target_type: str) -> None:
    path = f"/{collection}/{{target_id}}/tags"

    async def list_target_tags(request: Request, who: Who, target_id: str) -> Response:
        return await read(
            request,
            lambda session: service.target_tags(
                session, tenant_id=who.tenant_id, target_type=target_type, target_id=target_id
            ),
        )

    async def add_tag(request: Request, who: Who, target_id: str, tag: str) -> Response:
        return await write(
            request,
            who,
            lambda uow: service.add_tag(
                uow, tenant_id=who.tenant_id, target_type=target_type, target_id=target_id, tag=tag
            ),
        )

    async def remove_tag(request: Request, who: Who, target_id: str, tag: str) -> Response:
        return await write(
            request,
            who,
            lambda uow: service.remove_tag(
                uow, tenant_id=who.tenant_id, target_type=target_type, target_id=target_id, tag=tag
            ),
            status=204,
        )

    endpoints: list[tuple[str, str, Callable[..., Awaitable[Response]], str, int]] = [
        ("GET", path, list_target_tags, f"The tags on a {target_type}.", 200),
        ("PUT", path + "/{tag:path}", add_tag, f"Put a tag on a {target_type} (idempotent).", 200),
        ("DELETE", path + "/{tag:path}", remove_tag, f"Take a tag off a {target_type} (idempotent).", 204),
    ]
    for method, route, endpoint, summary, status in endpoints:
        router.add_api_route(
            route,
            endpoint,
            methods=[method],
            status_code=status,
            response_model=TargetTagsOut if status == 200 else None,
            summary=summary,
            name=f"{endpoint.__name__}_{target_type}",
            operation_id=f"{endpoint.__name__}_{target_type}",
        )


for _collection, _target_type in TAGGABLE.items():
    _add_target_routes(_collection, _target_type)
