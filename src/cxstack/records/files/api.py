"""``/v1/files/{id}`` and ``/v1/files/{id}/content``: one file API for every channel's files (uploads,
email attachments and raw emails, call recordings), for the tenant that owns them (tenant API key);
``/v1/conversations/{id}/files``: the files of a conversation."""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from cxstack.kit.pagination import PageOut
from cxstack.records.conversations.api import require_seen
from cxstack.records.files import service
from cxstack.records.files.schemas import FileOut
from cxstack.web.auth import Caller, caller, runtime_of
from cxstack.web.responses import read

router = APIRouter(prefix="/v1", tags=["files"])
Who = Annotated[Caller, Depends(caller)]


def file_response(
    data: bytes, *, name: str, content_type: str, headers: dict[str, str] | None = None
) -> Response:
    """Answer with a file's bytes as a download named ``name`` of its stored ``content_type``; never
    rendered on cxstack's origin (a customer's upload is not to be trusted)."""
    return Response(
        data,
        media_type=content_type,
        headers={
            **(headers or {}),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, max-age=300",
        },
    )


@router.get("/files/{file_id}", response_model=FileOut)
async def get_file(request: Request, who: Who, file_id: str) -> Response:
    """A file of the tenant: name, content type, size, conversation, when, and ``url`` (its bytes); 404
    for an id that is not the tenant's file, whoever else may have one."""
    visibility = who.visibility()
    return await read(
        request,
        lambda session: service.get_file(
            session, tenant_id=who.tenant_id, file_id=file_id, visibility=visibility
        ),
    )


@router.get(
    "/files/{file_id}/content",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file's bytes."}},
)
async def get_file_content(request: Request, who: Who, file_id: str) -> Response:
    """The file's bytes, with its stored Content-Type and its name in Content-Disposition; 404 as above."""
    runtime = runtime_of(request)
    visibility = who.visibility()
    file = await runtime.db.read(
        lambda session: service.get_file(
            session, tenant_id=who.tenant_id, file_id=file_id, visibility=visibility
        )
    )
    data = await asyncio.to_thread(runtime.services.files.get, file.sha256)
    return file_response(data, name=file.name, content_type=file.content_type)


@router.get("/conversations/{conversation_id}/files", response_model=PageOut[FileOut])
async def list_conversation_files(
    request: Request,
    who: Who,
    conversation_id: str,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """The conversation's files (attachments, raw emails, recordings), oldest first, one page at a time."""
    await require_seen(request, who, conversation_id)
    return await read(
        request,
        lambda session: service.list_files(
            session, tenant_id=who.tenant_id, conversation_id=conversation_id, cursor=cursor, limit=limit
        ),
    )
