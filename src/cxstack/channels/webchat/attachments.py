"""Attachment links: the signed, expiring download URLs a visitor's widget gets for the files of their
conversation, and checking them.

A link names a file record (``/widget/v1/files/<file id>``) and proves that cxstack handed it out for the
conversation that file belongs to: its ``token`` is the hex HMAC-SHA256 of
``<file id>\\n<conversation id>\\n<expires>`` keyed with a key derived from the widget's identity secret (a
SHA-256 of it, never an HMAC the company's server could be made to compute as a ``user_hash``), and the file
is served only when the widget's tenant holds it in that conversation. Links expire after
``LINK_LIFETIME``; the welcome's history and the messages endpoint hand out fresh ones, and rotating the
identity secret voids every link given before. Agents fetch files through the file API instead
(``/v1/files/{id}/content``, tenant API key).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import HTTPConnection

from cxstack.channels.webchat.service import WidgetConfig
from cxstack.kit.errors import Forbidden

#: How long a download link handed to a visitor works.
LINK_LIFETIME = timedelta(hours=12)


class FileLinkInvalid(Forbidden):
    code = "file_link_invalid"
    title = "File link not valid"


class FileLinkExpired(Forbidden):
    code = "file_link_expired"
    title = "File link expired"


def _link_key(config: WidgetConfig) -> bytes:
    return hashlib.sha256(b"cxstack webchat file links\n" + config.identity_secret.encode()).digest()


def public_base(connection: HTTPConnection) -> str:
    """Return cxstack's own origin (and root path) as the client reached it, as an http(s) URL."""
    base = str(connection.base_url)
    if base.startswith("ws"):
        base = "http" + base[2:]
    return base


def link_token(config: WidgetConfig, *, file_id: str, conversation_id: str, expires: int) -> str:
    """Return the token of a link to the file ``file_id`` of ``conversation_id`` that works until
    ``expires`` (Unix seconds)."""
    message = f"{file_id}\n{conversation_id}\n{expires}".encode()
    return hmac.new(_link_key(config), message, hashlib.sha256).hexdigest()


def download_url(
    config: WidgetConfig, *, base: str, file_id: str, conversation_id: str, now: datetime
) -> str:
    """Return the absolute URL (under ``base``, cxstack's own origin) that downloads the file ``file_id``
    of ``conversation_id`` until ``LINK_LIFETIME`` from ``now``."""
    expires = int((now + LINK_LIFETIME).timestamp())
    query = urlencode(
        {
            "widget_key": config.widget_key,
            "conversation_id": conversation_id,
            "expires": expires,
            "token": link_token(config, file_id=file_id, conversation_id=conversation_id, expires=expires),
        }
    )
    return f"{base.rstrip('/')}/widget/v1/files/{file_id}?{query}"


def with_download_urls(
    message: dict[str, Any], *, config: WidgetConfig, base: str, now: datetime
) -> dict[str, Any]:
    """Return a message as frames carry it (``protocol.message_json``) with a ``download_url`` on each of
    its attachments that is a file of cxstack's (one with an ``id``)."""
    attachments = message.get("attachments")
    if not attachments:
        return message
    linked = []
    for attachment in attachments:
        file_id = attachment.get("id")
        if file_id:
            attachment = {
                **attachment,
                "download_url": download_url(
                    config,
                    base=base,
                    file_id=str(file_id),
                    conversation_id=message["conversation_id"],
                    now=now,
                ),
            }
        linked.append(attachment)
    return {**message, "attachments": linked}


def check_link(
    config: WidgetConfig,
    *,
    file_id: str,
    conversation_id: str | None,
    expires: str | None,
    token: str | None,
    now: datetime,
) -> str:
    """Return the conversation a download link names; raises FileLinkInvalid (incomplete, or a token that
    does not match the file, conversation and expiry) or FileLinkExpired."""
    missing = [
        name
        for name, value in (("conversation_id", conversation_id), ("expires", expires), ("token", token))
        if not value
    ]
    if missing:
        raise FileLinkInvalid(
            f"a file link carries conversation_id, expires and token; this one lacks {', '.join(missing)}: "
            "use the download_url a message's attachment carries",
            field=missing[0],
        )
    assert conversation_id is not None and expires is not None and token is not None
    if not expires.isdigit() or len(expires) > 12:
        raise FileLinkInvalid(f"expires is Unix seconds, got {expires!r}", field="expires")
    expected = link_token(config, file_id=file_id, conversation_id=conversation_id, expires=int(expires))
    if not hmac.compare_digest(expected, token.strip().lower()):
        raise FileLinkInvalid(
            "the link's token does not match this file, conversation and expiry (or the widget's identity "
            "secret was rotated since): reload the chat for a fresh link",
            field="token",
        )
    if int(expires) <= now.timestamp():
        raise FileLinkExpired(
            f"the link expired at {datetime.fromtimestamp(int(expires), now.tzinfo).isoformat()}: "
            "reload the chat for a fresh link",
            field="expires",
        )
    return conversation_id
