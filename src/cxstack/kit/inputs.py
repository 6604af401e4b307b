"""What every input, from any edge (HTTP bodies, forms, query strings, socket frames), may hold.

Both database drivers must store what one accepts: PostgreSQL refuses U+0000 in text and JSON, and neither
stores integers beyond 64 bits, so such values are refused where they come in, naming the field, rather
than failing in the database. JSON's non-numbers (``NaN``, ``Infinity``) would be stored as null: refused
too. Free-form ``attributes`` are capped in keys, depth and size.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, Field

#: The integers both drivers store (64-bit signed).
MIN_INT64 = -(2**63)
MAX_INT64 = 2**63 - 1

#: ``attributes`` (customers, conversations): at most this many keys in all (nested ones counted), nested
#: this deep, and this many bytes as JSON.
MAX_ATTRIBUTE_KEYS = 100
MAX_ATTRIBUTE_DEPTH = 5
MAX_ATTRIBUTES_BYTES = 16 * 1024

# Bytes that may announce a value refused below; a body without any is accepted without a second parse.
_SUSPECT = re.compile(rb"\\u0000|\x00|NaN|Infinity|\d{19}|\d[eE][+-]?\d{3}")


class _Refused:
    """A JSON number the decoder met that no driver stores (stands in for it until the walk names it)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a number JSON allows here")


def _integer(text: str) -> int | _Refused:
    if len(text.lstrip("-")) > 19:
        return _Refused("integers must fit in 64 bits (-2^63 to 2^63-1)")
    value = int(text)
    if MIN_INT64 <= value <= MAX_INT64:
        return value
    return _Refused("integers must fit in 64 bits (-2^63 to 2^63-1)")


def _number(text: str) -> float | _Refused:
    value = float(text)
    return value if math.isfinite(value) else _Refused(f"{text[:20]} is beyond the range of a number")


def _join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path or "body", "must not contain the NUL character (U+0000)"
    elif isinstance(value, _Refused):
        yield path or "body", value.reason
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not MIN_INT64 <= value <= MAX_INT64:
            yield path or "body", "integers must fit in 64 bits (-2^63 to 2^63-1)"
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield path or "body", "must be a finite number (NaN and Infinity are refused)"
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                yield _join(path, key.replace("\x00", "\\u0000")), "names must not contain U+0000"
            yield from _walk(item, _join(path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, _join(path, index))


def refused_value(value: Any, *, path: str = "") -> tuple[str, str] | None:
    """Return ``(field path, reason)`` for the first value in ``value`` (decoded JSON, form fields) that no
    driver stores, or None when everything may be stored."""
    return next(_walk(value, path), None)


def refused_in_json(body: bytes) -> tuple[str, str] | None:
    """Return ``(field path, reason)`` for the first value of the JSON document ``body`` refused by
    ``refused_value`` (NaN, Infinity and numbers beyond range included), or None. Malformed JSON is None
    too: the parser of the route reports it."""
    if not _SUSPECT.search(body):
        return None
    try:
        decoded = json.loads(body, parse_constant=_constant, parse_int=_integer, parse_float=_number)
    except (ValueError, RecursionError):
        return None
    return refused_value(decoded)


def _check_attributes(value: dict[str, Any]) -> dict[str, Any]:
    keys = 0

    def count(item: Any, depth: int) -> None:
        nonlocal keys
        if depth > MAX_ATTRIBUTE_DEPTH:
            raise ValueError(f"attributes may be nested at most {MAX_ATTRIBUTE_DEPTH} levels deep")
        children: list[Any] = []
        if isinstance(item, dict):
            keys += len(item)
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        if keys > MAX_ATTRIBUTE_KEYS:
            raise ValueError(f"attributes may hold at most {MAX_ATTRIBUTE_KEYS} keys (nested ones counted)")
        for child in children:
            if isinstance(child, dict | list):
                count(child, depth + 1)

    count(value, 1)
    refused = refused_value(value)
    if refused is not None:
        raise ValueError(f"{refused[0]}: {refused[1]}")
    size = len(orjson.dumps(value))
    if size > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"attributes may take at most {MAX_ATTRIBUTES_BYTES} bytes as JSON, not {size}")
    return value


#: Free-form custom attributes of a record: a JSON object within the caps above.
Attributes = Annotated[
    dict[str, Any],
    AfterValidator(_check_attributes),
    Field(
        description=(
            f"Custom attributes: a JSON object of at most {MAX_ATTRIBUTE_KEYS} keys (nested ones counted), "
            f"{MAX_ATTRIBUTE_DEPTH} levels deep and {MAX_ATTRIBUTES_BYTES} bytes as JSON."
        ),
        json_schema_extra={"maxProperties": MAX_ATTRIBUTE_KEYS},
    ),
]
