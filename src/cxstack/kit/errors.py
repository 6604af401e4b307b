"""The one domain error hierarchy. Each error carries its HTTP status and a stable code."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"
    title = "Validation failed"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class EditConflict(DomainError):
    """A write made on a version of a record that is no longer the current one (``If-Match`` did not
    match): nothing was written; the caller reads the record again and reapplies its change."""

    status = 412
    code = "edit_conflict"
    title = "Edit conflict"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    title = "Unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class UnknownEventType(DomainError):
    status = 500
    code = "unknown_event_type"
    title = "Unknown event type"


class InvalidEventPayload(DomainError):
    status = 500
    code = "invalid_event_payload"
    title = "Invalid event payload"
