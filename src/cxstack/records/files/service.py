"""Files of a tenant: recording the files cxstack takes in, finding them for the tenant that owns them, and
resolving the files a message attaches.

Every look-up is by the tenant's own records: a file id or a content hash of another tenant is the same as
one that does not exist (one ``file_not_found`` or ``attachment_unknown`` answer for both), so nothing
tells a tenant what another one holds. Services take a session: recording a file publishes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff.visibility import Visibility
from cxstack.kit.errors import DomainError, NotFound
from cxstack.kit.files import URL_PREFIX, StoredFile
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page
from cxstack.records.conversations.repository import ConversationRepository
from cxstack.records.conversations.schemas import Attachment
from cxstack.records.files.models import FileRecord
from cxstack.records.files.repository import FileRepository
from cxstack.records.files.schemas import FileOut, content_url

#: A URL of the file API (absolute or not): ``.../v1/files/<id>`` or ``.../v1/files/<id>/content``.
_FILE_URL = re.compile(r"^(?:https?://[^/]+)?(?:/[^?#]*)?/v1/files/(file_[0-9A-Za-z]{1,27})(?:/content)?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class FileNotFound(NotFound):
    code = "file_not_found"
    title = "File not found"


class AttachmentUnknown(DomainError):
    status = 422
    code = "attachment_unknown"
    title = "Attachment not uploaded"


@dataclass(frozen=True, slots=True)
class NewFile:
    """A file to record: bytes already in the file store (``stored``), what they are, where they came."""

    name: str
    content_type: str
    stored: StoredFile
    source: str
    conversation_id: str | None = None
    message_id: str | None = None


def file_out(row: FileRecord) -> FileOut:
    return FileOut(
        id=row.id,
        conversation_id=row.conversation_id,
        message_id=row.message_id,
        name=row.name,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        source=row.source,
        created_at=row.created_at,
        url=content_url(row.id),
    )


def attachment_of(file: FileOut, *, name: str | None = None) -> Attachment:
    """Return the attachment a message carries for ``file`` (shown as ``name`` when given)."""
    return Attachment(
        id=file.id, name=name or file.name, content_type=file.content_type, size=file.size, url=file.url
    )


def new_file_ids(count: int) -> list[str]:
    """Return ``count`` fresh file ids (to name files in rows written before the files are recorded)."""
    return [new_id("file") for _ in range(count)]


def add_files(
    uow: UnitOfWork, *, tenant_id: str, files: Sequence[NewFile], ids: Sequence[str] | None = None
) -> list[FileOut]:
    """Record files of the tenant whose bytes are in the file store (with ``ids`` when given); return them.
    The same bytes recorded twice, or by two tenants, are two files."""
    now = uow.clock.now()
    ids = list(ids) if ids is not None else new_file_ids(len(files))
    rows = [
        {
            "id": file_id,
            "conversation_id": file.conversation_id,
            "message_id": file.message_id,
            "name": (file.name or "file")[:255],
            "content_type": (file.content_type or "application/octet-stream")[:255],
            "size": file.stored.size,
            "sha256": file.stored.key,
            "source": file.source,
            "created_at": now,
        }
        for file_id, file in zip(ids, files, strict=True)
    ]
    FileRepository(uow.session, tenant_id).insert(rows)
    return [FileOut(**row, url=content_url(file_id)) for file_id, row in zip(ids, rows, strict=True)]


def get_file(
    session: Session, *, tenant_id: str, file_id: str, visibility: Visibility | None = None
) -> FileOut:
    """Return the tenant's file; raises FileNotFound (the same for an unknown id, another tenant's, and
    one sent in a conversation ``visibility`` does not see: None sees every conversation)."""
    row = FileRepository(session, tenant_id).find(file_id)
    hidden = (
        row is not None
        and visibility is not None
        and row.conversation_id is not None
        and not ConversationRepository(session, tenant_id).seen_ids([row.conversation_id], visibility)
    )
    if row is None or hidden:
        raise FileNotFound(f"file {file_id} does not exist", field="file_id")
    return file_out(row)


def conversation_file(session: Session, *, tenant_id: str, conversation_id: str, ref: str) -> FileOut:
    """Return the file of the tenant's conversation whose id (or SHA-256, hex) is ``ref``; raises NotFound
    when the conversation holds no such file (or is not the tenant's)."""
    row = FileRepository(session, tenant_id).of_conversation(conversation_id, ref)
    if row is None:
        raise NotFound(f"conversation {conversation_id} holds no file {ref}", field="file_id")
    return file_out(row)


def list_files(
    session: Session, *, tenant_id: str, conversation_id: str, cursor: str | None, limit: int
) -> Page[FileOut]:
    """Return a page of the files of a conversation (attachments, raw emails, recordings), oldest first;
    raises NotFound for a conversation the tenant does not have, ValidationFailed."""
    ConversationRepository(session, tenant_id).get(conversation_id)
    page = FileRepository(session, tenant_id).page_of_conversation(
        conversation_id, cursor=cursor, limit=limit
    )
    return Page(items=[file_out(row) for row in page.items], next_cursor=page.next_cursor)


def _refused(index: int, detail: str, *, part: str = "") -> AttachmentUnknown:
    return AttachmentUnknown(detail, field=f"attachments[{index}]{part}")


def _reference(index: int, attachment: Attachment) -> tuple[str | None, str | None]:
    """Return (file id, SHA-256) an attachment names, neither for a link to a file kept elsewhere."""
    url = attachment.url
    file_id = attachment.id
    if url is not None and url.startswith(URL_PREFIX):
        key = url.removeprefix(URL_PREFIX)
        if not _SHA256.match(key):
            raise _refused(index, f"{url!r} is not a file reference of cxstack's", part=".url")
        return file_id, key
    named = _FILE_URL.match(url) if url is not None else None
    if named is not None:
        if file_id is not None and file_id != named.group(1):
            raise _refused(index, f"the url names file {named.group(1)}, not {file_id}", part=".url")
        return named.group(1), None
    if file_id is not None and url is not None:
        raise _refused(
            index, f"the url of file {file_id} is {content_url(file_id)}, not {url!r}", part=".url"
        )
    return file_id, None


def resolve_attachments(
    session: Session, *, tenant_id: str, conversation_id: str | None, attachments: Sequence[Attachment]
) -> list[Attachment]:
    """Return the attachments a message of ``conversation_id`` (None: a conversation yet to start) shows,
    each file of cxstack's resolved through the tenant's records; raises AttachmentUnknown naming the
    attachment (``attachments[i]``) for a file id or hash that is not the tenant's, or belongs to another
    conversation, and for a link without a name and content type."""
    repo = FileRepository(session, tenant_id)
    shown: list[Attachment] = []
    for index, attachment in enumerate(attachments):
        file_id, sha256 = _reference(index, attachment)
        if file_id is None and sha256 is None:
            if attachment.url is None:
                raise _refused(index, "an attachment names a file by id (or a link by url)", part=".id")
            if attachment.name is None or attachment.content_type is None:
                missing = "name" if attachment.name is None else "content_type"
                raise _refused(
                    index,
                    "a link to a file kept elsewhere needs a name and a content_type",
                    part=f".{missing}",
                )
            shown.append(
                Attachment(
                    name=attachment.name,
                    content_type=attachment.content_type,
                    size=attachment.size or 0,
                    url=attachment.url,
                )
            )
            continue
        row = repo.find(file_id) if file_id is not None else None
        if sha256 is not None:
            row = repo.find_by_sha256(sha256, conversation_id=conversation_id)
            if row is not None and file_id is not None and row.id != file_id:
                row = None
        if row is not None and row.conversation_id not in (None, conversation_id):
            row = None
        if row is None:
            named = file_id if file_id is not None else attachment.url
            raise _refused(index, f"{named!r} is not a file uploaded for this conversation; upload it first")
        shown.append(attachment_of(file_out(row), name=attachment.name))
    return shown


def bind_files(
    session: Session, *, tenant_id: str, conversation_id: str, message_id: str, file_ids: Sequence[str]
) -> None:
    """Put files not in a conversation yet into ``conversation_id`` as files of ``message_id``."""
    FileRepository(session, tenant_id).bind(file_ids, conversation_id=conversation_id, message_id=message_id)
