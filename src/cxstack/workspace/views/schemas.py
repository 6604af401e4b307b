"""Saved view payloads for the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field

from cxstack.kit.models import StrictModel
from cxstack.records.conversations.schemas import CHANNELS, Priority, Status

#: The filters a view may hold: the conversation list's query parameters, each with its values (None:
#: any text of 1 to ``MAX_FILTER_LENGTH`` characters).
FILTERS: dict[str, tuple[str, ...] | None] = {
    "channel": CHANNELS,
    "status": get_args(Status),
    "priority": get_args(Priority),
    "tag": None,
    "queue_id": None,
    "assignee": None,
    "team": None,
}
MAX_FILTER_LENGTH = 200
#: The most views one person keeps.
MAX_VIEWS = 100

_FILTERS = (
    "The conversation list's query parameters, each a string: "
    + ", ".join(f"{key} ({' | '.join(values)})" if values else key for key, values in FILTERS.items())
    + "."
)


class ViewCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    filters: dict[str, Any] = Field(default_factory=dict, description=_FILTERS)
    team_id: str | None = Field(
        default=None, min_length=1, max_length=32, description="Share it with this team (one of yours)."
    )
    position: int | None = Field(
        default=None, ge=0, le=10_000, description="Where it stands in your list; default: last."
    )


class ViewUpdate(StrictModel):
    """The fields to change; ``team_id: null`` stops sharing it."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    filters: dict[str, Any] | None = Field(default=None, description=_FILTERS)
    team_id: str | None = Field(default=None, min_length=1, max_length=32)
    position: int | None = Field(default=None, ge=0, le=10_000)


class ViewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    owner_id: str
    team_id: str | None
    name: str
    filters: dict[str, str]
    position: int
    created_at: datetime
    updated_at: datetime


class ViewListOut(BaseModel):
    """Every view the person sees: theirs, then those their teams' members shared, each by position."""

    data: list[ViewOut]
