"""``/v1/notes``: internal notes on customers, cases and conversations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cxstack.kit.pagination import PageOut
from cxstack.records.cases import service as cases
from cxstack.records.conversations.api import require_seen
from cxstack.records.notes import service
from cxstack.records.notes.schemas import NoteCreate, NoteOut
from cxstack.records.tags.schemas import TargetType
from cxstack.web.auth import Caller, caller, runtime_of
from cxstack.web.responses import read, write

router = APIRouter(prefix="/v1", tags=["notes"])
Who = Annotated[Caller, Depends(caller)]


async def _require_seen(request: Request, who: Caller, target_type: str, target_id: str) -> None:
    """Raises NotFound when a signed-in person does not see the conversation or case a note is on (as
    for one that does not exist); a customer's notes are everyone's."""
    visibility = who.visibility()
    if visibility is None:
        return
    if target_type == "conversation":
        await require_seen(request, who, target_id)
    elif target_type == "case":
        await runtime_of(request).db.read(
            lambda session: cases.get_case(
                session, tenant_id=who.tenant_id, case_id=target_id, visibility=visibility
            )
        )


@router.post("/notes", status_code=201, response_model=NoteOut)
async def add_note(request: Request, who: Who, data: NoteCreate) -> Response:
    """Add an internal note to a customer, case or conversation; 404 for a conversation or case the
    signed-in person does not see."""
    await _require_seen(request, who, data.target_type, data.target_id)
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
    """List a record's notes, oldest first, one page at a time (``next_cursor`` fetches the next); 404
    for a conversation or case the signed-in person does not see."""
    await _require_seen(request, who, target_type, target_id)
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
    """Delete a note; 404 for an unknown one and for one on a conversation or case the signed-in person
    does not see."""
    if who.visibility() is not None:
        note = await runtime_of(request).db.read(
            lambda session: service.get_note(session, tenant_id=who.tenant_id, note_id=note_id)
        )
        await _require_seen(request, who, note.target_type, note.target_id)
    return await write(
        request,
        who,
        lambda uow: service.delete_note(uow, tenant_id=who.tenant_id, note_id=note_id),
        status=204,
    )
