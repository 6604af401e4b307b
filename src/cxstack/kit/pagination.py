"""Cursor pagination over id-ordered queries (ids are ULID-based, so id order is creation order)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from cxstack.kit.errors import ValidationFailed

T = TypeVar("T")

MAX_PAGE_SIZE = 200


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None


ItemT = TypeVar("ItemT", bound=BaseModel)
#: A cursor as the API hands it out (an opaque string, format ``cursor`` in the OpenAPI document).
Cursor = Annotated[str, Field(json_schema_extra={"format": "cursor"})]


class PageOut(BaseModel, Generic[ItemT]):
    """One page of a list as the API answers it (the response model of list routes: the OpenAPI
    document, and clients generated from it, know the items): ``data`` in order, and ``next_cursor`` to
    pass as ``cursor`` for the next page (null on the last)."""

    data: list[ItemT]
    next_cursor: Cursor | None = Field(
        description="Pass as cursor to get the next page; null on the last page."
    )

    @classmethod
    def model_parametrized_name(cls, params: tuple[Any, ...]) -> str:
        name = getattr(params[0], "__name__", "Item")
        return f"{name.removesuffix('Out')}Page"


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """Return the id a cursor points after; raises ValidationFailed for a cursor we did not issue."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value: str | None = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value = None
    # The ids we issue are printable ASCII (a prefix, an underscore, a ULID): anything else is forged.
    if value is None or "_" not in value or len(value) > 64 or not (value.isascii() and value.isprintable()):
        raise ValidationFailed("cursor is not valid; pass next_cursor from a previous page", field="cursor")
    return value


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_time_cursor(at: datetime, last_id: str) -> str:
    """A cursor of a list ordered by a time and then by id: it points after (``at``, ``last_id``)."""
    return encode_cursor(f"{(at - _EPOCH) // timedelta(microseconds=1)}.{last_id}")


def decode_time_cursor(cursor: str) -> tuple[datetime, str]:
    """Return the (time, id) an ``encode_time_cursor`` cursor points after; raises ValidationFailed for
    one we did not issue (an id-ordered list's cursor included)."""
    micros, _, last_id = decode_cursor(cursor).partition(".")
    if not micros.isdigit() or len(micros) > 18 or not last_id:
        raise ValidationFailed(
            "cursor is not valid for this order; pass next_cursor from a previous page", field="cursor"
        )
    return _EPOCH + timedelta(microseconds=int(micros)), last_id


def paginate(
    session: Session,
    query: Select[T],
    *,
    id_column: InstrumentedAttribute[Any],
    cursor: str | None,
    limit: int,
    descending: bool = False,
) -> Page[T]:
    """Return one page of ``query`` ordered by ``id_column``; raises ValidationFailed for a bad limit."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit")
    if cursor is not None:
        after = decode_cursor(cursor)
        query = query.where(id_column < after if descending else id_column > after)
    query = query.order_by(id_column.desc() if descending else id_column).limit(limit + 1)
    rows = list(session.scalars(query).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(getattr(rows[-1], id_column.key)) if has_more and rows else None
    return Page(items=rows, next_cursor=next_cursor)
