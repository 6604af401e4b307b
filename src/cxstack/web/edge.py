"""What every route checks before its own code runs: body size, media type, and values no driver stores.

``guard_routes`` wraps each HTTP route of the app once its routers are included, so a route added to any
router gets the same checks without asking:

- The body may be at most the route's limit (``BODY_RULES``, else ``DEFAULT_BODY_LIMIT``): a declared
  ``Content-Length`` over it is refused before a byte is read, and a streamed (chunked) body is counted
  as it comes and refused as soon as it passes the limit. 413 problem+json with ``limit``.
- A body must be of a media type the route takes (its JSON or form parameters, its ``openapi_extra``
  request body, or ``BODY_RULES``): else 415 problem+json naming the ones it takes. A JSON route also takes
  a body sent without ``Content-Type``.
- U+0000 in a path parameter, a query parameter, a JSON value or key, or a form field is refused, as are
  JSON's ``NaN`` and ``Infinity``, numbers beyond a double's range and integers beyond 64 bits (in the
  body, and in integer path and query parameters): 422 problem+json naming the field (see
  ``cxstack.kit.inputs``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import UnionType
from typing import Any, Union, get_args, get_origin
from urllib.parse import parse_qsl

from fastapi import FastAPI, params
from fastapi._compat import ModelField
from fastapi.routing import APIRoute
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cxstack.config import Settings
from cxstack.kit.errors import DomainError, ValidationFailed
from cxstack.kit.inputs import MAX_INT64, MIN_INT64, refused_in_json

KIB = 1024
MIB = 1024 * KIB
#: The body limit of a route no rule names: JSON API requests are small.
DEFAULT_BODY_LIMIT = 1 * MIB
#: Uploads: a 10 MiB file and the multipart framing around it.
UPLOAD_BODY_LIMIT = 10 * MIB + 64 * KIB

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RequestTooLarge(DomainError):
    status = 413
    code = "request_too_large"
    title = "Request too large"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


@dataclass(frozen=True)
class BodyRule:
    """The body of the routes whose path matches ``path``: its limit, and for routes that read their body
    themselves (provider webhooks, uploads), its media types and the schema the OpenAPI document gives."""

    path: re.Pattern[str]
    limit: int | Callable[[Settings], int]
    media_types: tuple[str, ...] = ()
    schema: dict[str, Any] = field(default_factory=dict)
    description: str = ""


_TWILIO_FORM = {
    "type": "object",
    "description": "Twilio's webhook parameters (AccountSid, From, To, MessageSid or CallSid, ...).",
    "additionalProperties": {"type": "string"},
}
_UPLOAD_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "At most 10 MiB."}},
}
_EMAIL_FORM = {
    "type": "object",
    "required": ["recipient", "sender", "body-mime"],
    "properties": {
        "recipient": {"type": "string", "description": "The address the message was sent to."},
        "sender": {"type": "string"},
        "timestamp": {"type": "string", "description": "Signed with token (the provider's signature)."},
        "token": {"type": "string"},
        "signature": {"type": "string", "description": "Hex HMAC-SHA256 of timestamp + token."},
        "body-mime": {"type": "string", "description": "The raw MIME message."},
    },
    "additionalProperties": {"type": "string"},
}

#: Routes whose bodies differ from the default: first match wins.
BODY_RULES: tuple[BodyRule, ...] = (
    BodyRule(
        re.compile(r"^/hooks/(sms|voice)/"),
        64 * KIB,
        (FORM,),
        _TWILIO_FORM,
        "The provider's webhook form, signed in X-Twilio-Signature.",
    ),
    BodyRule(
        re.compile(r"^/hooks/email/"),
        lambda settings: settings.email_max_message_bytes + 1 * MIB,
        (MULTIPART, FORM),
        _EMAIL_FORM,
        "The inbound-parse provider's form, signed with timestamp, token and signature.",
    ),
    BodyRule(re.compile(r"/uploads$"), UPLOAD_BODY_LIMIT, (MULTIPART,), _UPLOAD_FORM, "The file to attach."),
    BodyRule(re.compile(r"^/v1/files"), UPLOAD_BODY_LIMIT),
)


def rule_of(path: str) -> BodyRule | None:
    return next((rule for rule in BODY_RULES if rule.path.search(path)), None)


def body_limit_of(path: str, settings: Settings) -> int:
    """The largest body, in bytes, the route at ``path`` reads."""
    rule = rule_of(path)
    if rule is None:
        return DEFAULT_BODY_LIMIT
    return rule.limit(settings) if callable(rule.limit) else rule.limit


def body_media_types_of(route: APIRoute) -> tuple[str, ...]:
    """The media types of the bodies ``route`` takes (none when it takes no body)."""
    if route.body_field is not None:
        if isinstance(route.body_field.field_info, params.Form):
            return (FORM, MULTIPART)
        return (JSON,)
    declared = (route.openapi_extra or {}).get("requestBody", {}).get("content")
    if declared:
        return tuple(declared)
    rule = rule_of(route.path_format)
    return rule.media_types if rule is not None else ()


def _media_type(headers: Headers) -> str | None:
    value = headers.get("content-type")
    if value is None:
        return None
    return value.split(";")[0].strip().lower()


def _takes(accepted: tuple[str, ...], media_type: str | None) -> bool:
    if media_type is None:
        return JSON in accepted
    if media_type in accepted:
        return True
    # FastAPI reads any application/*+json as JSON.
    return JSON in accepted and media_type.startswith("application/") and media_type.endswith("+json")


def _query_nul(query_string: bytes) -> None:
    if b"%00" not in query_string and b"\x00" not in query_string:
        return
    for name, value in parse_qsl(query_string.decode("utf-8", "replace"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            shown = name.replace("\x00", "\\u0000")
            raise ValidationFailed(
                f"query parameter {shown!r} must not contain the NUL character (U+0000)", field=shown
            )


def _refuse(found: tuple[str, str] | None) -> None:
    if found is not None:
        path, reason = found
        raise ValidationFailed(f"field {path!r}: {reason}", field=path)


async def _multipart_fields(headers: Headers, body: bytes) -> list[tuple[str, str]]:
    async def stream() -> Any:
        yield body

    try:
        form = await MultiPartParser(headers, stream(), max_files=100, max_fields=1000).parse()
    except Exception:
        return []  # The route's own parser says what is wrong with it.
    fields = [(name, value) for name, value in form.multi_items() if not isinstance(value, UploadFile)]
    await form.close()
    return fields


def _refuse_fields(fields: list[tuple[str, str]]) -> None:
    for name, value in fields:
        if "\x00" in name or "\x00" in value:
            shown = name.replace("\x00", "\\u0000")
            raise ValidationFailed(
                f"field {shown!r} must not contain the NUL character (U+0000)", field=shown
            )


async def _check_body(media_type: str | None, headers: Headers, body: bytes) -> None:
    if media_type is None or media_type == JSON or media_type.endswith("+json"):
        _refuse(refused_in_json(body))
    elif media_type == FORM:
        if b"%00" in body or b"\x00" in body:
            _refuse_fields(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif media_type == MULTIPART and b"\x00" in body:
        _refuse_fields(await _multipart_fields(headers, body))


def _integer_params(params: list[ModelField]) -> frozenset[str]:
    """The names (aliases) of the parameters among ``params`` that are integers."""
    names = set()
    for param in params:
        annotation = param.field_info.annotation
        options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
        if int in options:
            names.add(param.alias)
    return frozenset(names)


def _check_integer(name: str, value: str) -> None:
    text = value.strip()
    digits = text.lstrip("+-")
    if (digits.isascii() and digits.isdigit()) and (
        len(digits) > 19 or not MIN_INT64 <= int(text) <= MAX_INT64
    ):
        raise ValidationFailed(
            f"parameter {name!r} must be an integer that fits in 64 bits (-2^63 to 2^63-1)", field=name
        )


class RouteGuard:
    """The checks of this module around one route's ASGI app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        media_types: tuple[str, ...],
        integer_path_params: frozenset[str] = frozenset(),
        integer_query_params: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.limit = limit
        self.media_types = media_types
        self.integer_path_params = integer_path_params
        self.integer_query_params = integer_query_params

    def _check_parameters(self, scope: Scope) -> None:
        for name, value in scope.get("path_params", {}).items():
            if isinstance(value, str) and "\x00" in value:
                raise ValidationFailed(
                    f"path parameter {name!r} must not contain the NUL character (U+0000)", field=name
                )
            if name in self.integer_path_params and isinstance(value, str):
                _check_integer(name, value)
        query_string: bytes = scope.get("query_string", b"")
        _query_nul(query_string)
        if self.integer_query_params and query_string:
            for name, value in parse_qsl(query_string.decode("utf-8", "replace"), keep_blank_values=True):
                if name in self.integer_query_params:
                    _check_integer(name, value)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._check_parameters(scope)
        headers = Headers(scope=scope)
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length")
        streamed = "chunked" in headers.get("transfer-encoding", "").lower()
        if declared is not None and declared.strip().isdigit() and int(declared) > self.limit:
            raise RequestTooLarge(
                f"the body is {int(declared)} bytes; this route takes at most {self.limit}",
                field="body",
                limit=self.limit,
            )
        if not streamed and (declared is None or declared.strip() in ("", "0")):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: let the route see it.
                await self.app(scope, _replaying(b"".join(chunks), receive, first=message), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise RequestTooLarge(
                    f"the body is over {self.limit} bytes, the most this route takes",
                    field="body",
                    limit=self.limit,
                )
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body:
            media_type = _media_type(headers)
            if self.media_types and not _takes(self.media_types, media_type):
                raise UnsupportedMediaType(
                    f"send the body as {' or '.join(self.media_types)}, not {media_type or 'untyped'}",
                    field="Content-Type",
                    accepted=list(self.media_types),
                )
            await _check_body(media_type, headers, body)
        await self.app(scope, _replaying(body, receive), send)


def _replaying(body: bytes, receive: Receive, *, first: Message | None = None) -> Receive:
    pending: list[Message] = [
        first if first is not None else {"type": "http.request", "body": body, "more_body": False}
    ]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay


def guard_routes(app: FastAPI, settings: Settings) -> None:
    """Put a ``RouteGuard`` around each HTTP route of ``app`` (call once, after including the routers)."""
    for route in app.routes:
        if isinstance(route, APIRoute) and not isinstance(route.app, RouteGuard):
            route.app = RouteGuard(
                route.app,
                limit=body_limit_of(route.path_format, settings),
                media_types=body_media_types_of(route),
                integer_path_params=_integer_params(route.dependant.path_params),
                integer_query_params=_integer_params(route.dependant.query_params),
            )
