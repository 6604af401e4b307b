"""Twilio: the Programmable Messaging REST API for sends, and Twilio's signed form-encoded webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from functools import lru_cache
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from cxstack.channels.sms.plugins.base import (
    FormParams,
    MalformedWebhook,
    OutboundSms,
    ProviderAccount,
    ProviderUnavailable,
    SendRejected,
    SendResult,
    SmsProvider,
)
from cxstack.channels.sms.schemas import STATUS_RANK, InboundMedia, InboundSms, StatusReport
from cxstack.kit.errors import ValidationFailed
from cxstack.records.customers.service import normalise_phone

API_VERSION = "2010-04-01"
DEFAULT_API_URL = "https://api.twilio.com"
_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
#: Twilio sends at most 10 media items with one message.
MAX_MEDIA = 10
#: Statuses a status callback may report (``refused`` and ``pending`` are cxstack's own).
CALLBACK_STATUSES = frozenset(STATUS_RANK) - {"refused", "pending"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def compute_signature(url: str, params: FormParams, auth_token: str) -> str:
    """Return Twilio's ``X-Twilio-Signature`` of a form posted to ``url``.

    HMAC-SHA1 keyed with the auth token over the full URL followed by every parameter's name and value,
    sorted by name (and a repeated name's values sorted), base64-encoded.
    """
    # Pairs sorted by name then value, a pair repeated counted once: as Twilio sorts them.
    data = url + "".join([name + value for name, value in sorted(set(params))])
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@lru_cache(maxsize=1024)
def _port_variants(url: str) -> tuple[str, ...]:
    """Return ``url`` with and without its scheme's default port (Twilio signs either, depending on how the
    webhook URL was configured)."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != default:
        return (url,)
    without = urlunsplit(parts._replace(netloc=host))
    if default is None:
        return (without,)
    return (without, urlunsplit(parts._replace(netloc=f"{host}:{default}")))


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or not value.strip():
        raise MalformedWebhook(f"the webhook has no {name}", field=name)
    return value.strip()


def _sid(params: dict[str, str], name: str, pattern: re.Pattern[str] = _SID) -> str:
    value = _required(params, name)
    if not pattern.match(value):
        raise MalformedWebhook(f"{name} {value!r} is not a Twilio id", field=name)
    return value


@lru_cache(maxsize=65_536)
def _e164_or_none(value: str, region: str) -> str | None:
    try:
        return normalise_phone(value, region=region)
    except ValidationFailed:
        return None


#: The country of numbers a webhook names without saying where they are.
DEFAULT_COUNTRY = "US"
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


def webhook_country(value: str | None, *, field: str) -> str:
    """Return the ISO 3166 country Twilio names in ``field`` (``FromCountry``, ``ToCountry``), upper-case;
    ``US`` when the webhook leaves it out. Raises MalformedWebhook naming ``field`` for anything else."""
    value = (value or "").strip()
    if not value:
        return DEFAULT_COUNTRY
    if not _COUNTRY.match(value):
        raise MalformedWebhook(f"{field} {value!r} is not an ISO 3166 country code", field=field)
    return value.upper()


def webhook_phone(value: str, *, field: str, country: str = "US") -> str:
    """Return a number a webhook carries in E.164, reading one in national format (``07911 123456``) as a
    number of ``country`` (Twilio's ``FromCountry`` or ``ToCountry``); raises MalformedWebhook naming
    ``field``.

    Webhooks name the same few numbers over and over (a tenant's numbers, its customers' phones): their
    normalisation is remembered, since parsing a number is a good part of a webhook's cost."""
    found = _e164_or_none(value, country)
    if found is None:
        try:
            normalise_phone(value, region=country, field=field)
        except ValidationFailed as error:
            raise MalformedWebhook(error.detail, field=field) from None
        raise MalformedWebhook(f"{value!r} is not a valid phone number", field=field)
    return found


def _phone(params: dict[str, str], name: str) -> str:
    """The number in ``name`` (``From``, ``To``), read in the country of ``FromCountry``/``ToCountry``."""
    country = webhook_country(params.get(f"{name}Country"), field=f"{name}Country")
    return webhook_phone(_required(params, name), field=name, country=country)


def _first_values(params: FormParams) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in params:
        found.setdefault(name, value)
    return found


class TwilioSmsProvider(SmsProvider):
    name: ClassVar[str] = "twilio"

    def __init__(self, *, api_url: str = DEFAULT_API_URL, timeout_s: float = 10.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout_s = timeout_s

    async def send(self, account: ProviderAccount, message: OutboundSms) -> SendResult:
        """POST the message to ``/2010-04-01/Accounts/{AccountSid}/Messages.json``.

        Raises SendRejected for a 4xx answer (Twilio's error ``code`` and ``message`` carried over),
        ProviderUnavailable for 429, 5xx and network failures.
        """
        form = {"To": message.to_number, "From": message.from_number, "Body": message.body}
        if message.status_callback:
            form["StatusCallback"] = message.status_callback
        url = f"{self.api_url}/{API_VERSION}/Accounts/{account.account_sid}/Messages.json"
        auth = (account.account_sid, account.auth_token)
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as http:
                response = await http.post(url, data=form, auth=auth)
        except httpx.HTTPError as error:
            raise ProviderUnavailable(f"Twilio could not be reached: {error!r}") from error
        answer = _json(response)
        if response.status_code in (200, 201):
            sid, status = answer.get("sid"), answer.get("status")
            if not isinstance(sid, str) or not isinstance(status, str):
                raise ProviderUnavailable(f"Twilio answered {response.status_code} without a sid and status")
            return SendResult(provider_sid=sid, status=status)
        code = answer.get("code")
        detail = str(answer.get("message") or response.text[:500] or response.reason_phrase)
        error_code = str(code) if code is not None else None
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderUnavailable(f"Twilio answered {response.status_code}: {detail}", code=error_code)
        raise SendRejected(detail, code=error_code or str(response.status_code))

    def signature_valid(self, *, url: str, params: FormParams, signature: str, auth_token: str) -> bool:
        presented = signature.encode()
        return any(
            hmac.compare_digest(compute_signature(variant, params, auth_token).encode(), presented)
            for variant in _port_variants(url)
        )

    def parse_inbound(self, params: FormParams) -> InboundSms:
        values = _first_values(params)
        message_sid = _sid(values, "MessageSid")
        account_sid = _sid(values, "AccountSid", _ACCOUNT_SID)
        from_number = _phone(values, "From")
        to_number = _phone(values, "To")
        if "Body" not in values:
            raise MalformedWebhook("the webhook has no Body", field="Body")
        raw_count = values.get("NumMedia", "0").strip() or "0"
        if not raw_count.isdigit() or int(raw_count) > MAX_MEDIA:
            raise MalformedWebhook(
                f"NumMedia {raw_count!r} is not a count of 0 to {MAX_MEDIA}", field="NumMedia"
            )
        media = []
        for index in range(int(raw_count)):
            media_url = _required(values, f"MediaUrl{index}")
            if not media_url.startswith(("https://", "http://")):
                raise MalformedWebhook(
                    f"MediaUrl{index} {media_url!r} is not an http(s) URL", field=f"MediaUrl{index}"
                )
            content_type = values.get(f"MediaContentType{index}") or "application/octet-stream"
            media.append(InboundMedia(url=media_url, content_type=content_type))
        if not values["Body"].strip() and not media:
            raise MalformedWebhook("the message has neither a Body nor media", field="Body")
        opt_out_type = (values.get("OptOutType") or "").strip().upper() or None
        return InboundSms(
            message_sid=message_sid,
            account_sid=account_sid,
            from_number=from_number,
            to_number=to_number,
            body=values["Body"],
            media=tuple(media),
            opt_out_type=opt_out_type,
        )

    def parse_status(self, params: FormParams) -> StatusReport:
        values = _first_values(params)
        message_sid = _sid(values, "MessageSid")
        account_sid = _sid(values, "AccountSid", _ACCOUNT_SID)
        from_number = _phone(values, "From")
        status = _required(values, "MessageStatus").lower()
        if status not in CALLBACK_STATUSES:
            raise MalformedWebhook(
                f"MessageStatus {status!r} is not one of {', '.join(sorted(CALLBACK_STATUSES))}",
                field="MessageStatus",
            )
        error_code = (values.get("ErrorCode") or "").strip() or None
        if error_code is not None and not error_code.isdigit():
            raise MalformedWebhook(f"ErrorCode {error_code!r} is not a number", field="ErrorCode")
        return StatusReport(
            message_sid=message_sid,
            account_sid=account_sid,
            from_number=from_number,
            status=status,
            error_code=error_code,
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
