"""``/v1/channels/email/inboxes``: the addresses a tenant receives mail at; ``/hooks/email/inbound``: the
inbound-parse webhook (Mailgun routes, "forward" to a URL ending in ``mime``).

The webhook carries no API key: the ``recipient`` names the inbox, hence the tenant, and the signature
(HMAC-SHA256 of ``timestamp`` + ``token`` keyed with the inbox's signing key) proves the sender. A request
that is unsigned, wrongly signed or stale is refused with 403 and leaves an audit entry for the tenant.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import Response

from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.channels.email import service
from cxstack.channels.email.inbound import Destination, EmailIntake, InboundLimits
from cxstack.channels.email.schemas import InboxCreate, InboxOut, ReceivedEmail
from cxstack.governance.audit.service import record_audit
from cxstack.kit.errors import DomainError, Forbidden
from cxstack.kit.pagination import PageOut
from cxstack.web.auth import Caller, caller, config_caller, runtime_of
from cxstack.web.responses import read, write

router = APIRouter(prefix="/v1/channels/email", tags=["email"])
hooks = APIRouter(prefix="/hooks/email", tags=["email webhooks"])
Who = Annotated[Caller, Depends(caller)]
Configuring = Annotated[Caller, Depends(config_caller)]

#: Room for the form's other fields and multipart framing around ``body-mime``.
FORM_OVERHEAD_BYTES = 64 * 1024


class MalformedWebhook(DomainError):
    status = 400
    code = "malformed_webhook"
    title = "Malformed webhook"


class SignatureRejected(Forbidden):
    code = "signature_invalid"
    title = "Signature invalid"


# -- inboxes ---------------------------------------------------------------------------------------


@router.post("/inboxes", status_code=201, response_model=InboxOut)
async def create_inbox(request: Request, who: Configuring, data: InboxCreate) -> Response:
    """Receive mail at an address: mail to it (or to ``local+anything@domain``) comes to this tenant."""
    return await write(
        request,
        who,
        lambda uow: service.create_inbox(uow, tenant_id=who.tenant_id, data=data),
        status=201,
    )


@router.get("/inboxes", response_model=PageOut[InboxOut])
async def list_inboxes(
    request: Request, who: Who, cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> Response:
    return await read(
        request,
        lambda session: service.list_inboxes(session, tenant_id=who.tenant_id, cursor=cursor, limit=limit),
    )


@router.get("/inboxes/{inbox_id}", response_model=InboxOut)
async def get_inbox(request: Request, who: Who, inbox_id: str) -> Response:
    return await read(
        request, lambda session: service.get_inbox(session, tenant_id=who.tenant_id, inbox_id=inbox_id)
    )


@router.delete("/inboxes/{inbox_id}", status_code=204)
async def delete_inbox(request: Request, who: Configuring, inbox_id: str) -> Response:
    return await write(
        request,
        who,
        lambda uow: service.delete_inbox(uow, tenant_id=who.tenant_id, inbox_id=inbox_id),
        status=204,
    )


# -- the inbound-parse webhook ---------------------------------------------------------------------


def intake_of(request: Request) -> EmailIntake:
    runtime = runtime_of(request)
    settings = runtime.settings
    return EmailIntake(
        runtime.db,
        runtime.services.files,
        InboundLimits(settings.email_max_message_bytes, settings.email_max_attachment_bytes),
    )


def _text_field(form: FormData, name: str) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        raise MalformedWebhook(f"the form field {name!r} is required", field=name)
    return value.strip()


def signature_problem(
    *,
    signing_key: str | None,
    timestamp: str | None,
    token: str | None,
    signature: str | None,
    now: float,
    max_age_s: float,
) -> str | None:
    """Return why a Mailgun signature does not hold, or None when it does."""
    if signing_key is None:
        return "the inbox has no signing key; set one to accept its webhook"
    if not timestamp or not token or not signature:
        missing = [
            name
            for name, value in (("timestamp", timestamp), ("token", token), ("signature", signature))
            if not value
        ]
        return f"the request is not signed ({', '.join(missing)} missing)"
    expected = hmac.new(signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.strip().lower()):
        return "the signature does not match"
    try:
        age = abs(now - float(timestamp))
    except ValueError:
        return "the timestamp is not a number"
    if age > max_age_s:
        return f"the timestamp is {int(age)} seconds away from now (at most {int(max_age_s)} accepted)"
    return None


async def _reject(request: Request, destination: Destination, reason: str, form: FormData) -> None:
    client = request.client.host if request.client else None

    def audit(uow: UnitOfWork) -> None:
        record_audit(
            uow,
            tenant_id=destination.tenant_id,
            action="email.webhook_rejected",
            target_type="email_inbox",
            target_id=destination.inbox_id,
            detail={
                "reason": reason,
                "recipient": destination.address,
                "sender": str(form.get("sender") or ""),
                "client": client,
            },
        )

    await runtime_of(request).db.write(audit, context=Context(actor="webhook:email", source=service.SOURCE))
    raise SignatureRejected(f"webhook refused: {reason}", field="signature")


class _MimeKeepingParser(MultiPartParser):
    """Starlette's multipart parser, keeping the bytes of the ``body-mime`` field as they were sent.

    Starlette decodes a text field as UTF-8, or as Latin-1 when that fails; the raw message in another
    charset (Shift_JIS, KS C 5601 sent 8-bit, as Mailgun posts it) cannot be turned back into its bytes
    from either, so they are kept before the decoding.
    """

    raw_mime: bytes | None = None

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None and part.field_name == "body-mime" and self.raw_mime is None:
            self.raw_mime = bytes(part.data)
        super().on_part_end()


async def _read_form(request: Request, *, max_part_size: int) -> tuple[FormData, bytes | None]:
    """Return the webhook's form and, when it came as a multipart text field, ``body-mime``'s bytes."""
    content_type, _ = parse_options_header(request.headers.get("Content-Type"))
    if content_type != b"multipart/form-data":
        form = await request.form(max_files=20, max_fields=100, max_part_size=max_part_size)
        return form, None
    parser = _MimeKeepingParser(
        request.headers, request.stream(), max_files=20, max_fields=100, max_part_size=max_part_size
    )
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise MalformedWebhook(f"the form cannot be read: {error.message}", field="body-mime") from None
    return form, parser.raw_mime


async def _mime_of(form: FormData, raw_mime: bytes | None) -> bytes:
    value = form.get("body-mime")
    if isinstance(value, UploadFile):
        return await value.read()
    if not isinstance(value, str) or not value.strip():
        raise MalformedWebhook(
            "the form field 'body-mime' is required (the raw MIME message)", field="body-mime"
        )
    if raw_mime is not None:
        return raw_mime
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("latin-1", "replace")


@hooks.post("/inbound", response_model=ReceivedEmail)
@hooks.post("/inbound/mime", response_model=ReceivedEmail, include_in_schema=False)
async def inbound(request: Request) -> Response:
    """Take in an email from an inbound-parse provider (Mailgun: a route forwarding to ``…/inbound/mime``,
    a URL ending in ``mime`` so that it posts the raw message): 200 with what became of it, 400 naming a
    missing field, 403 for a bad signature, 406 for an address no inbox receives, 413 for a message over
    the limit."""
    intake = intake_of(request)
    settings = runtime_of(request).settings
    declared = request.headers.get("content-length")
    if declared and declared.isdigit():
        intake.check_size(max(0, int(declared) - FORM_OVERHEAD_BYTES), field="body-mime")
    form, raw_mime = await _read_form(
        request, max_part_size=settings.email_max_message_bytes + FORM_OVERHEAD_BYTES
    )
    try:
        return await _receive(request, intake, form, raw_mime)
    finally:
        await form.close()


async def _receive(request: Request, intake: EmailIntake, form: FormData, raw_mime: bytes | None) -> Response:
    settings = runtime_of(request).settings
    recipient = _text_field(form, "recipient")
    destination = await intake.destination(recipient.split(",")[0])
    problem = signature_problem(
        signing_key=destination.signing_key,
        timestamp=_optional(form, "timestamp"),
        token=_optional(form, "token"),
        signature=_optional(form, "signature"),
        now=time.time(),
        max_age_s=settings.email_webhook_max_age_seconds,
    )
    if problem is not None:
        await _reject(request, destination, problem, form)
    _text_field(form, "sender")
    raw = await _mime_of(form, raw_mime)
    results = await intake.receive(raw, [destination], field="body-mime", actor="webhook:email")
    return Response(orjson.dumps(results[0].model_dump(mode="json")), media_type="application/json")


def _optional(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value else None
