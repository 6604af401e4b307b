"""Twilio's REST API basics: the base URL and version, HTTP basic auth with the account SID and its auth
token, form-encoded requests, JSON answers, and how an answer maps to an error (a 4xx is a refusal for
good, a 429, a 5xx or a network failure may be retried)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

API_VERSION = "2010-04-01"
DEFAULT_API_URL = "https://api.twilio.com"


class TwilioRejected(Exception):
    """Twilio refused the request for good (a 4xx answer but 429); ``code`` is Twilio's error code (the
    HTTP status when it gave none), ``status`` the HTTP status."""

    def __init__(self, message: str, *, code: str | None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class TwilioUnavailable(Exception):
    """Twilio could not be reached or failed on its side (429, 5xx): the request may be retried; ``code``
    is Twilio's error code when it gave one."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def account_url(api_url: str, account_sid: str, path: str) -> str:
    """The URL of ``path`` under the account's resources (``/2010-04-01/Accounts/{AccountSid}/...``)."""
    return f"{api_url.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}/{path}"


def json_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON object Twilio answered, or an empty one when it answered anything else."""
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


async def request(
    method: str,
    url: str,
    *,
    account_sid: str,
    auth_token: str,
    timeout_s: float,
    data: dict[str, str] | list[tuple[str, str]] | None = None,
) -> httpx.Response:
    """Send one request to Twilio's REST API; return a 2xx answer.

    Raises TwilioRejected for a 4xx answer (but 429; Twilio's error ``code`` and ``message`` carried
    over), TwilioUnavailable for 429, 5xx and network failures.
    """
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as http:
            if data is None:
                response = await http.request(method, url, auth=(account_sid, auth_token))
            else:
                pairs = list(data.items()) if isinstance(data, dict) else data
                response = await http.request(
                    method,
                    url,
                    content=urlencode(pairs),
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    auth=(account_sid, auth_token),
                )
    except httpx.HTTPError as error:
        raise TwilioUnavailable(f"Twilio could not be reached: {error!r}") from error
    if 200 <= response.status_code < 300:
        return response
    answer = json_of(response)
    code = answer.get("code")
    error_code = str(code) if code is not None else None
    detail = str(answer.get("message") or response.text[:500] or response.reason_phrase)
    if response.status_code == 429 or response.status_code >= 500:
        raise TwilioUnavailable(f"Twilio answered {response.status_code}: {detail}", code=error_code)
    raise TwilioRejected(detail, code=error_code or str(response.status_code), status=response.status_code)
