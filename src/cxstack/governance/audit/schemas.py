"""Audit entries as the API and the command line show them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    actor: str
    action: str
    target_type: str
    target_id: str
    detail: dict[str, Any]
    correlation_id: str
    at: datetime


class AuditPage(BaseModel):
    data: list[AuditEntryOut]
    next_cursor: str | None
