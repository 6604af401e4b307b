"""What Twilio's webhooks have in common, for every channel that takes them (SMS, voice).

Webhooks carry no API key: the number posted for names the tenant, and Twilio's signature over the URL it
posted to and the form it sent, keyed with that number's auth token, proves the sender.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from cxstack.channels.providers import FormParams, MalformedWebhook
from cxstack.channels.twilio.signatures import signature_valid
from cxstack.kit.errors import DomainError, Forbidden

MAX_WEBHOOK_BYTES = 64 * 1024


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class SignatureRejected(Forbidden):
    code = "signature_invalid"
    title = "Signature invalid"


class UnknownNumber(Forbidden):
    code = "sms_number_unknown"
    title = "Unknown number"


def _first(header: str | None) -> str | None:
    """The first value of a header a chain of proxies may have appended to."""
    if header is None:
        return None
    value = header.split(",")[0].strip()
    return value or None


def signed_url(request: Request) -> str:
    """Return the URL the provider posted to, as it signed it: behind a proxy, the scheme and host of
    ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` replace the ones this server was reached at."""
    scheme = _first(request.headers.get("x-forwarded-proto")) or request.url.scheme
    host = (
        _first(request.headers.get("x-forwarded-host")) or request.headers.get("host") or request.url.netloc
    )
    path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")


async def read_form(request: Request) -> FormParams:
    """Return the webhook's form fields in order; raises UnsupportedMediaType (415), MalformedWebhook."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType(
            f"the webhook must be application/x-www-form-urlencoded, not {content_type or 'untyped'}",
            field="Content-Type",
        )
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise MalformedWebhook(f"the webhook body is over {MAX_WEBHOOK_BYTES} bytes", field="body")
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedWebhook(f"the webhook body is not a UTF-8 form: {error}", field="body") from None


def form_value(params: FormParams, name: str) -> str:
    """The first value of ``name`` in the form, stripped ('' when absent)."""
    return next((value for key, value in params if key == name), "").strip()


def signature_problem(request: Request, params: FormParams, *, auth_token: str) -> tuple[str, str] | None:
    """Return (reason, detail) when the request's ``X-Twilio-Signature`` is missing or does not match the
    form signed with ``auth_token``; None when it matches."""
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        return "missing_signature", "the X-Twilio-Signature header is missing"
    url = signed_url(request)
    if not signature_valid(url=url, params=params, signature=signature, auth_token=auth_token):
        return "signature_invalid", f"X-Twilio-Signature does not match the request to {url}"
    return None
