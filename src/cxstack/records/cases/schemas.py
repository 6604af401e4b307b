"""Case payloads for the API and the events this domain publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cxstack.backbone.events import EventPayload
from cxstack.kit.models import StrictModel

CaseStatus = Literal["new", "open", "pending", "on_hold", "solved", "closed"]
CasePriority = Literal["low", "normal", "high", "urgent"]
#: The shape of a conversation id; the service checks that the conversation exists in the tenant.
REFERENCE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_DESCRIPTION = 65_536


class CaseCreate(StrictModel):
    customer_id: str = Field(min_length=1, max_length=32)
    subject: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    conversation_id: str | None = Field(default=None, pattern=REFERENCE_PATTERN)
    status: CaseStatus = Field(default="new", description="new, open, pending or on_hold.")
    priority: CasePriority = "normal"
    assignee: str | None = Field(default=None, min_length=1, max_length=120)
    due_at: AwareDatetime | None = Field(default=None, description="When the case is due (SLA).")
    tags: list[str] = Field(default_factory=list, max_length=50)


class CaseUpdate(StrictModel):
    """Fields to change. A null ``assignee`` or ``due_at`` clears it; ``status`` follows the case's
    state machine (see ``cxstack.records.cases.service``)."""

    subject: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    conversation_id: str | None = Field(default=None, pattern=REFERENCE_PATTERN)
    status: CaseStatus | None = None
    priority: CasePriority | None = None
    assignee: str | None = Field(default=None, min_length=1, max_length=120)
    due_at: AwareDatetime | None = None


class CaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    customer_id: str
    conversation_id: str | None
    subject: str
    description: str
    status: CaseStatus
    priority: CasePriority
    assignee: str | None
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    solved_at: datetime | None
    closed_at: datetime | None
    tags: list[str] = Field(default_factory=list)


# -- event payloads ------------------------------------------------------------------------------


class CaseCreated(EventPayload, type="case.created"):
    """A case (ticket) was opened for a customer."""

    case_id: str
    customer_id: str
    conversation_id: str | None
    subject: str
    status: str
    priority: str
    assignee: str | None
    due_at: datetime | None


class CaseUpdated(EventPayload, type="case.updated"):
    """Fields of a case other than its status and assignee changed (also: moved customer)."""

    case_id: str
    customer_id: str
    changes: dict[str, Any]
    #: Set when the case moved to another customer (``changes.customer_id``): the one it left.
    previous_customer_id: str | None = None


class CaseStatusChanged(EventPayload, type="case.status_changed"):
    """A case moved to another status."""

    case_id: str
    customer_id: str
    from_status: str
    to_status: str


class CaseAssigned(EventPayload, type="case.assigned"):
    """A case was assigned, reassigned or unassigned."""

    case_id: str
    customer_id: str
    #: The new assignee; none when the case was unassigned.
    assignee: str | None
    previous_assignee: str | None


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (
    CaseCreated,
    CaseUpdated,
    CaseStatusChanged,
    CaseAssigned,
)
