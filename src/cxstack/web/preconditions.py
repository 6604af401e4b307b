"""Conditional writes over HTTP (RFC 9110 §8.8.3, §13.1.1): a record's ``version`` is answered as a
strong ``ETag`` (``"3"``), and a write that sends it back in ``If-Match`` is refused with 412 when the
record has changed since (``EditConflict``), with nothing written.

``If-Match`` takes one or more of the tags cxstack answered, or ``*`` (any current version). A write
without it is not checked; a client that shows a record for editing sends it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
from fastapi import Header
from starlette.responses import Response

from cxstack.kit.errors import ValidationFailed

IF_MATCH_DESCRIPTION = (
    "The ETag of the version this change was made on (as a read answered it), or *. When the record has "
    "changed since, the answer is 412 and nothing is written."
)
#: The ``If-Match`` header of a conditional write, as a route's parameter.
IfMatch = Annotated[str | None, Header(alias="If-Match", description=IF_MATCH_DESCRIPTION)]

#: The OpenAPI description of the ``ETag`` header on a record's answers.
ETAG_HEADER: dict[str, Any] = {
    "description": 'The record\'s version as a strong entity tag ("3"): send it back in If-Match to write.',
    "schema": {"type": "string"},
}


def etag_responses(status: int = 200) -> dict[int | str, dict[str, Any]]:
    """Return the ``responses`` of a route decorator whose answer ``status`` carries an ``ETag``."""
    return {status: {"headers": {"ETag": ETAG_HEADER}}}


_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e]*)"\s*')


def entity_tag(version: int) -> str:
    """Return the strong entity tag of a record's version."""
    return f'"{version}"'


def expected_versions(if_match: str | None) -> frozenset[int] | None:
    """Return the versions an ``If-Match`` value names, or None when there is none or it is ``*``.

    Raises ValidationFailed naming ``If-Match`` for a value that is not a list of entity tags, or one
    naming a weak tag or a tag cxstack never answers (strong comparison could never match it)."""
    if if_match is None or if_match.strip() == "*":
        return None
    versions: set[int] = set()
    for part in if_match.split(","):
        found = _TAG.fullmatch(part)
        if (
            found is None
            or found.group(1) is not None
            or not found.group(2).isdigit()
            or len(found.group(2)) > 18
        ):
            raise ValidationFailed(
                f"If-Match {if_match!r} is not an ETag this API answered: send the ETag header of your "
                'read as it came (such as "3"), several separated by commas, or *',
                field="If-Match",
            )
        versions.add(int(found.group(2)))
    return frozenset(versions)


def with_entity_tag(response: Response) -> Response:
    """Add the ``ETag`` of the record a successful answer's JSON holds (its ``version``) and return the
    answer; any other answer is returned as it is."""
    if 200 <= response.status_code < 300 and response.body:
        version = orjson.loads(response.body).get("version")
        if isinstance(version, int):
            response.headers["ETag"] = entity_tag(version)
    return response
