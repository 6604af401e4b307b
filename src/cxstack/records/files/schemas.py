"""File payloads for the API: a file's metadata and where its bytes are served."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

#: Where a file's bytes are served (``GET``, tenant API key), relative to cxstack's origin.
CONTENT_ROUTE = "/v1/files/{id}/content"
#: Where a file's metadata is served (``GET``, tenant API key).
FILE_ROUTE = "/v1/files/{id}"


def content_url(file_id: str) -> str:
    """Return the URL (relative to cxstack's origin) that serves the bytes of the file ``file_id``."""
    return CONTENT_ROUTE.format(id=file_id)


class FileOut(BaseModel):
    """A file of the tenant: what it is, where it was sent, and where its bytes are served."""

    id: str
    conversation_id: str | None = Field(description="The conversation it was sent in; null until it is.")
    message_id: str | None = Field(description="The conversation message it came with, where known.")
    name: str
    content_type: str
    size: int = Field(description="Bytes.")
    sha256: str = Field(description="The SHA-256 of its bytes, hex.")
    source: str = Field(description="upload, email_attachment, email (a raw email) or recording.")
    created_at: datetime
    url: str = Field(description="Where its bytes are served (GET with the tenant API key).")
