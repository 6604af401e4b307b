"""Twilio: the Programmable Messaging REST API for sends, and Twilio's signed form-encoded webhooks."""

from __future__ import annotations

from typing import ClassVar

from cxstack.channels.providers import FormParams, MalformedWebhook, ProviderAccount
from cxstack.channels.sms.plugins.base import (
    OutboundSms,
    ProviderUnavailable,
    SendRejected,
    SendResult,
    SmsProvider,
)
from cxstack.channels.sms.schemas import STATUS_RANK, InboundMedia, InboundSms, StatusReport
from cxstack.channels.twilio import rest
from cxstack.channels.twilio.forms import (
    ACCOUNT_SID,
    first_values,
    required,
    sid,
    webhook_country,
    webhook_phone,
)
from cxstack.channels.twilio.signatures import signature_valid

#: Twilio sends at most 10 media items with one message.
MAX_MEDIA = 10
#: Statuses a status callback may report (``refused`` and ``pending`` are cxstack's own).
CALLBACK_STATUSES = frozenset(STATUS_RANK) - {"refused", "pending"}


def _phone(params: dict[str, str], name: str) -> str:
    """The number in ``name`` (``From``, ``To``), read in the country of ``FromCountry``/``ToCountry``."""
    country = webhook_country(params.get(f"{name}Country"), field=f"{name}Country")
    return webhook_phone(required(params, name), field=name, country=country)


class TwilioSmsProvider(SmsProvider):
    name: ClassVar[str] = "twilio"

    def __init__(self, *, api_url: str = rest.DEFAULT_API_URL, timeout_s: float = 10.0) -> None:
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
        try:
            response = await rest.request(
                "POST",
                rest.account_url(self.api_url, account.account_sid, "Messages.json"),
                account_sid=account.account_sid,
                auth_token=account.auth_token,
                timeout_s=self.timeout_s,
                data=form,
            )
        except rest.TwilioUnavailable as error:
            raise ProviderUnavailable(error.message, code=error.code) from error
        except rest.TwilioRejected as error:
            raise SendRejected(error.message, code=error.code) from None
        answer = rest.json_of(response)
        sid_, status = answer.get("sid"), answer.get("status")
        if not isinstance(sid_, str) or not isinstance(status, str):
            raise ProviderUnavailable(f"Twilio answered {response.status_code} without a sid and status")
        return SendResult(provider_sid=sid_, status=status)

    def signature_valid(self, *, url: str, params: FormParams, signature: str, auth_token: str) -> bool:
        return signature_valid(url=url, params=params, signature=signature, auth_token=auth_token)

    def parse_inbound(self, params: FormParams) -> InboundSms:
        values = first_values(params)
        message_sid = sid(values, "MessageSid")
        account_sid = sid(values, "AccountSid", ACCOUNT_SID)
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
            media_url = required(values, f"MediaUrl{index}")
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
        values = first_values(params)
        message_sid = sid(values, "MessageSid")
        account_sid = sid(values, "AccountSid", ACCOUNT_SID)
        from_number = _phone(values, "From")
        status = required(values, "MessageStatus").lower()
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
