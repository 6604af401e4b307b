"""The OpenAPI document at ``/openapi.json``: what every route answers, errors and credentials included.

Built from the routes once, then completed for every operation alike, so a route added to any router is
described without asking:

- Security: routes that depend on ``caller`` take the tenant's API key (``Authorization: Bearer`` or
  ``X-API-Key``) or a person's session cookie (``cxstack_session``, with ``X-CSRF-Token`` on writes);
  ``/v1/auth/me`` and sign-out take the cookie alone; sign-in (by password or OIDC) and password reset
  take nothing; ``/v1/inapp/...`` takes the app's key and the signed-in user (``X-App-Key``,
  ``X-User-Id``, ``X-User-Hash``); the SMS and voice webhooks are signed in ``X-Twilio-Signature``; the
  email webhook signs its form (``timestamp``, ``token``, ``signature``).
- Errors: the ``Problem`` schema (RFC 9457, ``application/problem+json``) under each status the route may
  answer with: 400, 404, 422 and 500 always; 401 and 403 where credentials are checked and on
  ``/v1/auth/...`` (423 on sign-in, 502 where an OIDC provider is asked); 409 for writes; 412 for
  writes that take ``If-Match``; 413 and 415 where a body is taken.
- Bodies a route reads itself (webhook forms, uploads) as ``BODY_RULES`` in ``cxstack.web.edge`` declare.
- Formats: ``cursor``, ``phone``, ``email``, ``tag`` on the parameters of those names.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from cxstack.web.auth import admin_caller, caller, operator, signed_in
from cxstack.web.edge import rule_of
from cxstack.web.problems import PROBLEM_MEDIA_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details: every error cxstack answers.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "Identifies the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong, for a person to read."},
        "code": {"type": "string", "description": "Stable machine-readable code."},
        "instance": {"type": "string", "description": "The path of the request."},
        "field": {"type": "string", "description": "The field, parameter or header at fault."},
        "correlation_id": {
            "type": "string",
            "description": "The request's correlation id (also in X-Correlation-Id), as the log has it.",
        },
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}

SECURITY_SCHEMES: dict[str, Any] = {
    "ApiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "The tenant's API key: Authorization: Bearer cxk_...",
    },
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "The same key."},
    "SessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "cxstack_session",
        "description": "A signed-in person's session (POST /v1/auth/sign-in sets it).",
    },
    "CsrfToken": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
        "description": "The session's CSRF token (from sign-in): required with the cookie on writes.",
    },
    "OperatorKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "An operator key (Authorization: Bearer cxo_...), for /v1/operator/... only.",
    },
    "AppKey": {"type": "apiKey", "in": "header", "name": "X-App-Key", "description": "The in-app key."},
    "AppUserId": {"type": "apiKey", "in": "header", "name": "X-User-Id", "description": "Your user's id."},
    "AppUserHash": {
        "type": "apiKey",
        "in": "header",
        "name": "X-User-Hash",
        "description": "Hex HMAC-SHA256 of X-User-Id keyed with the in-app identity secret.",
    },
    "TwilioSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Twilio-Signature",
        "description": "Twilio's signature of the URL and form, keyed with the number's auth token.",
    },
}

_TITLES = {
    400: "Malformed request (JSON that does not parse, a field the provider must send).",
    401: "No credentials, or ones that are not valid.",
    403: "The credentials do not allow this (or a webhook's signature is wrong).",
    404: "No such resource for this tenant, or no such route.",
    406: "The webhook is for an address nobody receives at.",
    409: "The change conflicts with the record (an identity of another customer, a concurrent write).",
    412: "If-Match names a version the record no longer has: someone changed it since it was read.",
    413: "The body is over the route's limit.",
    415: "The body is not of a media type the route takes.",
    423: "The account is locked after too many failed sign-ins (the problem says until when).",
    422: "A field, parameter or header is not valid (the problem names it).",
    500: "The server failed; the problem carries the correlation id the log has.",
    502: "The tenant's sign-in provider could not be reached, or answered as OpenID Connect does not.",
}

_FORMATS = {"cursor": "cursor", "phone": "phone", "email": "email", "tag": "tag"}


#: The dependencies that authenticate a tenant's key (any scope), and an operator's.
_TENANT_CALLERS = (caller, admin_caller)


def _depends_on(dependant: Dependant, calls: tuple[object, ...]) -> bool:
    return any(dep.call in calls or _depends_on(dep, calls) for dep in dependant.dependencies)


def _session(method: str) -> dict[str, list[str]]:
    return {"SessionCookie": []} if method == "get" else {"SessionCookie": [], "CsrfToken": []}


def _security(route: APIRoute, method: str) -> list[dict[str, list[str]]] | None:
    if route.path_format.startswith("/v1/inapp/"):
        return [{"AppKey": [], "AppUserId": [], "AppUserHash": []}]
    if route.path_format.startswith(("/hooks/sms/", "/hooks/voice/")):
        return [{"TwilioSignature": []}]
    if _depends_on(route.dependant, _TENANT_CALLERS):
        return [{"ApiKey": []}, {"ApiKeyHeader": []}, _session(method)]
    if _depends_on(route.dependant, (signed_in,)):
        return [_session(method)]
    if _depends_on(route.dependant, (operator,)):
        return [{"OperatorKey": []}, {"ApiKeyHeader": []}]
    return None


def _statuses(route: APIRoute, method: str) -> list[int]:
    statuses = [400, 404, 422, 500]
    # Webhooks check their signatures, the widget its key: they refuse as credentials do.
    if _security(route, method) is not None or route.path_format.startswith(
        ("/hooks/", "/widget/", "/v1/auth/")
    ):
        statuses += [401, 403]
    if route.path_format in ("/v1/auth/sign-in", "/v1/auth/oidc/callback"):
        statuses.append(423)
    if route.path_format in ("/v1/auth/oidc/{tenant_slug}/start", "/v1/auth/oidc/callback"):
        statuses.append(502)
    if method != "get":
        statuses.append(409)
    if any(param.alias.lower() == "if-match" for param in route.dependant.header_params):
        statuses.append(412)
    if method in ("post", "put", "patch"):
        statuses += [413, 415]
    if route.path_format.startswith("/hooks/email/"):
        statuses.append(406)
    return sorted(statuses)


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": _TITLES[status],
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _complete_operation(route: APIRoute, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in _statuses(route, method):
        # Replaces FastAPI's own 422 (a JSON body of pydantic's errors), which cxstack never answers.
        responses[str(status)] = _problem_response(status)
    for answer in responses.values():
        answer.setdefault("headers", {})["X-Correlation-Id"] = {
            "description": "The request's correlation id (the caller's X-Correlation-Id or X-Request-Id).",
            "schema": {"type": "string"},
        }
    security = _security(route, method)
    # A route that declares its own (a fastapi.security dependency) keeps it.
    if security is not None and "security" not in operation:
        operation["security"] = security
    rule = rule_of(route.path_format)
    if "requestBody" not in operation and rule is not None and rule.media_types and method != "get":
        operation["requestBody"] = {
            "required": True,
            "description": rule.description,
            # The first of the media types it takes: the one its provider sends.
            "content": {rule.media_types[0]: {"schema": rule.schema}},
        }
    for parameter in operation.get("parameters", []):
        found = _FORMATS.get(parameter.get("name", ""))
        schema = parameter.get("schema", {})
        if found is not None and schema.get("type") == "string":
            schema["format"] = found
        elif found is not None:
            for option in schema.get("anyOf", []):
                if option.get("type") == "string":
                    option["format"] = found


def _input_formats(schemas: dict[str, Any]) -> None:
    """``email``, ``phone`` and ``tag`` string properties of request models get their formats."""
    for name, schema in schemas.items():
        if name.endswith(("Out", "Page")):
            continue
        for prop_name, prop in schema.get("properties", {}).items():
            found = _FORMATS.get(prop_name)
            if found is None or found == "cursor":
                continue
            options = prop.get("anyOf", [prop])
            for option in options:
                if option.get("type") == "string":
                    option["format"] = found


_GENERIC_PAGE = re.compile(r"^PageOut_(\w+?)_$")


def _page_names(document: dict[str, Any]) -> dict[str, Any]:
    """Name the page models ``CustomerPage`` (of ``CustomerOut``) rather than pydantic's
    ``PageOut_CustomerOut_``, in the components and in every reference to them."""
    schemas = document.get("components", {}).get("schemas", {})
    renames = {}
    for name in list(schemas):
        found = _GENERIC_PAGE.match(name)
        if found is not None:
            renames[name] = found.group(1).removesuffix("Out") + "Page"
    if not renames:
        return document
    text = json.dumps(document)
    for old, new in renames.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    renamed: dict[str, Any] = json.loads(text)
    components = renamed["components"]["schemas"]
    for old, new in renames.items():
        components[new] = components.pop(old)
        components[new]["title"] = new
    return renamed


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """Return the app's OpenAPI document, completed as this module's docstring says."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    # FastAPI's validation error bodies are never answered: problem+json is.
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["securitySchemes"] = {**SECURITY_SCHEMES, **components.get("securitySchemes", {})}
    _input_formats(schemas)
    paths = document.get("paths", {})
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        operations = paths.get(route.path_format, {})
        for method in route.methods:
            operation = operations.get(method.lower())
            if operation is not None:
                _complete_operation(route, method.lower(), operation)
    return _page_names(document)


def install_openapi(app: FastAPI) -> None:
    """Serve ``build_openapi``'s document at ``/openapi.json`` (built on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
