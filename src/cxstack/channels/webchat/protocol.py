"""The live-chat WebSocket protocol: JSON text frames, one object each, with a ``type``.

Visitor socket ``/ws/webchat`` (and the in-app socket ``/ws/inapp``), client to server:

- ``{"type": "hello", "widget_key", "visitor_id"?, "user_id"?, "user_hash"?, "after"?}``: the first frame.
  ``visitor_id`` is the one a previous welcome gave (kept in localStorage); ``after`` the id of the last
  message the client has (resume): the welcome carries every message after it (all when left out). An
  anonymous hello stores nothing: until the visitor first writes or identifies (a ``message``, a
  ``contact``, an ``auth``, an upload) the welcome's ``customer_id`` and ``conversation_id`` are null, and
  that first write stores the visitor, with a customer of its own, under the welcome's ``visitor_id``.
  ``user_id`` + ``user_hash`` (hex HMAC-SHA256 of user_id keyed with the tenant's identity secret) sign a
  logged-in user in. A wrong hash gets an ``identity_invalid`` error, an audit entry, and the socket is
  closed (1008): it is not treated as anonymous. A hello with a verified user and the ``visitor_id`` of
  an anonymous visitor signs that visitor in: their chat becomes the user's (see ``sign_in``).
- ``{"type": "auth", "user_id", "user_hash"}``: sign the anonymous visitor of this socket in now (the page
  signed its user in). Answered with ``signed_in`` (``visitor_id``, ``customer_id``, ``conversation_id``,
  ``merged``, ``contact``, ``missing``, ``history``): the same conversation, now the known customer's. A
  wrong hash gets an ``identity_invalid`` error and an audit entry; the socket stays open, anonymous.
- ``{"type": "message", "client_id", "body", "attachments"?: [{id, name?, ...}]}`` (each attachment an
  upload's answer, or just its ``id``; a file that is not the tenant's, for this conversation or none yet,
  gets an ``attachment_unknown`` error): answered with ``ack`` carrying the stored message. Sent again
  with the same ``client_id`` (after a dropped connection) it is answered with the original message
  (``duplicate: true``), never stored twice.
- ``{"type": "typing", "state": true|false}``
- ``{"type": "delivered" | "read", "message_id"}``: receipts of the agents' messages.
- ``{"type": "contact", "name"?, "email"?}``: the pre-chat or offline form.
- ``{"type": "ping"}``: answered with ``pong``.

Agent socket ``/ws/agent`` (tenant API key in ``Authorization: Bearer`` or a first ``{"type": "auth",
"api_key"}`` frame; or, with no key, a signed-in person's session cookie, whose socket carries only the
conversations they see): receives every conversation event of the tenant live, and sends
``{"type": "message", "conversation_id", "client_id", "body"}``, ``{"type": "typing", "conversation_id",
"state"}`` and ``{"type": "delivered" | "read", "conversation_id", "message_id"}``. The key is checked
again every few seconds (``agent_socket.KEY_RECHECK_SECONDS``), and at once when this process sees it
revoked: a key revoked (or left without the read and write scopes) gets an ``unauthorized`` error frame
and the socket is closed 1008, with the error's detail as the reason.

Agents also receive ``customer`` frames (``{"type": "customer", "event": "merged", "data"}``: a customer,
such as an anonymous visitor who signed in, was merged into another, with the conversations that moved).

Server to client: ``welcome``, ``signed_in``, ``ack``, ``message`` (a new message of the conversation),
``typing``, ``receipt``, ``conversation`` (the conversation moved channel, closed or reopened),
``contact_saved``, ``resync`` (the server fell behind: resume), ``pong`` and ``error`` (``code``,
``detail``, and the ``client_id`` of the frame it answers; a value no database stores, such as U+0000 in
a string, is an ``invalid_frame`` error naming the field). Garbage closes the socket after an error frame:
a binary frame 1003, text that is not a JSON object 1007, an unknown frame type or a frame out of turn
1008, a frame over ``MAX_FRAME_BYTES`` 1009 (the frames, close codes and error frames every live socket
shares are in ``cxstack.channels.live``).

A message's attachments in ``welcome``, ``signed_in`` and ``ack`` frames (and from ``/widget/v1/messages``)
carry a ``download_url``: a signed link to the file that works for a while (see ``attachments``); their
``url`` is the file API's, for agents.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, model_validator

from cxstack.channels.live.frames import ClientFrameModel as _Frame
from cxstack.channels.live.frames import FrameGrammar, Ping
from cxstack.records.conversations.schemas import Attachment, MessageOut


class Hello(_Frame):
    type: Literal["hello"]
    widget_key: str = Field(min_length=1, max_length=64)
    visitor_id: str | None = Field(default=None, max_length=64)
    user_id: str | None = Field(default=None, min_length=1, max_length=200)
    user_hash: str | None = Field(default=None, max_length=128)
    after: str | None = Field(default=None, max_length=32)


class Auth(_Frame):
    """An agent's API key (agent socket), or a visitor's sign-in: ``user_id`` and ``user_hash``."""

    type: Literal["auth"]
    api_key: str | None = Field(default=None, min_length=1, max_length=200)
    user_id: str | None = Field(default=None, min_length=1, max_length=200)
    user_hash: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _one_kind(self) -> Auth:
        if self.api_key is not None and (self.user_id is not None or self.user_hash is not None):
            raise ValueError("an auth frame carries an api_key, or a user_id and user_hash, not both")
        if self.api_key is None and (self.user_id is None or self.user_hash is None):
            raise ValueError("an auth frame carries an api_key, or a user_id and user_hash")
        return self


class Send(_Frame):
    type: Literal["message"]
    client_id: str = Field(min_length=1, max_length=128)
    body: str = ""
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)
    conversation_id: str | None = Field(default=None, max_length=32)


class Typing(_Frame):
    type: Literal["typing"]
    state: bool = True
    conversation_id: str | None = Field(default=None, max_length=32)


class Receipt(_Frame):
    type: Literal["delivered", "read"]
    message_id: str = Field(min_length=1, max_length=32)
    conversation_id: str | None = Field(default=None, max_length=32)


class Contact(_Frame):
    type: Literal["contact"]
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)


ClientFrame = Annotated[Hello | Auth | Send | Typing | Receipt | Contact | Ping, Field(discriminator="type")]
#: The frames the visitor, in-app and agent sockets read.
FRAMES: FrameGrammar[ClientFrame] = FrameGrammar(
    TypeAdapter(ClientFrame), ("hello", "auth", "message", "typing", "delivered", "read", "contact", "ping")
)


def message_json(message: MessageOut) -> dict[str, Any]:
    """A message as frames carry it."""
    return message.model_dump(mode="json", exclude={"customer_id"})


def message_from_event(data: dict[str, Any]) -> dict[str, Any]:
    """A message as frames carry it, from a ``message.received`` or ``message.sent`` payload."""
    return {
        "id": data["message_id"],
        "conversation_id": data["conversation_id"],
        "direction": data["direction"],
        "author_kind": data["author_kind"],
        "author_id": data["author_id"],
        "visibility": data.get("visibility", "public"),
        "channel": data["channel"],
        "body": data["body"],
        "content_type": data["content_type"],
        "attachments_count": data["attachments_count"],
        "client_id": data["client_id"],
        "created_at": data["created_at"],
    }
