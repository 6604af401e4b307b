"""``/v1/notes``: internal notes on customers, cases and conversations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cxstack.kit.pagination import PageOut
from cxstack.records.notes import service
from cxstack.records.notes.schemas import NoteCreate, NoteOut
from cxstack.records.tags.schemas import TargetType
from cxstack.web.auth import Caller, caller
from cxstack.web.responses import read, write

router = APIRouter(prefix="/v1", tags=["notes"])
Who = Annotated[Caller, Depends(caller)]


@router.post("/notes", status_code=201, response_model=NoteOut)
async def add_note(request: Request, who: Who, data: NoteCreate) -> Response:
    """Add an internal note to a customer, case or conversation."""
    return await write(
        request,
        who,
        lambda uow: service.add_note(uow, tenant_id=who.tenant_id, data=data),
        status=201,
    )


@router.get("/notes", response_model=PageOut[NoteOut])
async def list_notes(
    request: Request,
    who: Who,
    target_type: TargetType,
    target_id: Annotated[str, Query(min_length=1, max_length=64)],
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """List a record's notes, oldest first, one page at a time (``next_cursor`` fetches the next)."""
    return await read(
        request,
        lambda session: service.list_notes(
            session,
            tenant_id=who.tenant_id,
            target_type=target_type,
            target_id=target_id,
            cursor=cursor,
            limit=limit,
        ),
    )


@router.delete("/notes/{note_id}", status_code=204)
async def delete_note(request: Request, who: Who, note_id: str) -> Response:
    return await write(
        request,
        who,
        lambda uow: service.delete_note(uow, tenant_id=who.tenant_id, note_id=note_id),
        status=204,
    )
