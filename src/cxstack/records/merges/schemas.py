"""Merge payloads for the API and the events this domain publishes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.events import EventPayload


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source_customer_id: str = Field(min_length=1, max_length=32, description="The customer merged away.")


class MergeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    source_customer_id: str
    target_customer_id: str
    moved: dict[str, list[str]]
    filled: dict[str, object]
    merged_by: str
    merged_at: datetime
    undone_by: str | None
    undone_at: datetime | None


class CustomerMerged(EventPayload, type="customer.merged"):
    """A customer was merged into another; its identities and history moved."""

    merge_id: str
    source_customer_id: str
    target_customer_id: str
    moved: dict[str, list[str]]


class CustomerUnmerged(EventPayload, type="customer.unmerged"):
    """A merge was undone; what moved went back."""

    merge_id: str
    source_customer_id: str
    target_customer_id: str
    moved_back: dict[str, list[str]]


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (
    CustomerMerged,
    CustomerUnmerged,
)
