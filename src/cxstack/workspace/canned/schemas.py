"""Canned response payloads for the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cxstack.kit.models import StrictModel

#: The variables a body may hold, written ``{{customer.name}}``, and what each is filled with.
VARIABLES: dict[str, str] = {
    "customer.name": "the conversation's customer's name",
    "customer.first_name": "the first word of the customer's name",
    "customer.email": "the customer's email address",
    "agent.name": "the signed-in person's name (empty for an API key)",
    "conversation.id": "the conversation's id",
    "conversation.subject": "the conversation's subject",
}
#: A shortcut: lowercase letters and digits in words joined by single hyphens.
SHORTCUT_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
#: The largest body, in bytes of UTF-8.
MAX_BODY_BYTES = 16 * 1024
MAX_TEAMS = 50

_BODY = (
    "Text of at most 16 KiB with variables in double braces: "
    + ", ".join("{{" + name + "}}" for name in VARIABLES)
    + "."
)
_TEAMS = "The teams whose agents see it; empty: everyone."


class CannedResponseCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    shortcut: str = Field(
        min_length=1, max_length=64, pattern=SHORTCUT_PATTERN, description="Unique per tenant: refund-policy."
    )
    body: str = Field(min_length=1, max_length=MAX_BODY_BYTES, description=_BODY)
    team_ids: list[str] = Field(default_factory=list, max_length=MAX_TEAMS, description=_TEAMS)


class CannedResponseUpdate(StrictModel):
    """The fields to change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    shortcut: str | None = Field(default=None, min_length=1, max_length=64, pattern=SHORTCUT_PATTERN)
    body: str | None = Field(default=None, min_length=1, max_length=MAX_BODY_BYTES, description=_BODY)
    team_ids: list[str] | None = Field(default=None, max_length=MAX_TEAMS, description=_TEAMS)


class CannedResponseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    shortcut: str
    body: str
    team_ids: list[str]
    created_by: str
    created_at: datetime
    updated_at: datetime


class RenderRequest(StrictModel):
    conversation_id: str = Field(min_length=1, max_length=32)


class RenderedOut(BaseModel):
    """A canned response's body with its variables filled in for a conversation."""

    canned_response_id: str
    conversation_id: str
    body: str
    missing: list[str] = Field(
        description="The variables the body holds that had no value (filled in empty), in order of use."
    )
