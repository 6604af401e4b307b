"""SMS fixtures: the fake Twilio, numbers registered through the API, signed webhooks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from tests.channels.sms.fake_twilio import FakeTwilio, FakeTwilioServer, new_sid, sign
from tests.channels.support import events_of as events_of
from tests.channels.support import settle as settle

from cxstack.config import Settings, SmsSettings

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f" * 8 + "0123456789abcdef" + "e" * 8
OTHER_ACCOUNT_SID = "AC" + "fedcba9876543210" * 2
OTHER_AUTH_TOKEN = "1" * 8 + "fedcba9876543210" + "2" * 8
NUMBER = "+14155550100"
OTHER_NUMBER = "+14155550199"
CUSTOMER_PHONE = "+14155552671"
BASE_URL = "http://cxstack.test"
INBOUND_PATH = "/hooks/sms/twilio"
STATUS_PATH = "/hooks/sms/twilio/status"


@pytest.fixture(scope="session")
def fake_twilio_server() -> Iterator[FakeTwilioServer]:
    server = FakeTwilioServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_twilio(fake_twilio_server: FakeTwilioServer) -> FakeTwilio:
    """The fake Twilio, emptied, knowing the two test accounts."""
    state = fake_twilio_server.state
    state.reset()
    state.add_account(ACCOUNT_SID, AUTH_TOKEN)
    state.add_account(OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN)
    return state


@pytest.fixture
def settings(settings: Settings, fake_twilio: FakeTwilio) -> Settings:
    """cxstack's settings, with the SMS channel sending to the fake Twilio and asking for status callbacks
    at the in-process app's URL."""
    return settings.model_copy(
        update={
            "effect_retry_base_seconds": 0.01,
            "effect_poll_seconds": 0.02,
            "sms": SmsSettings(twilio_api_url=fake_twilio.url, public_url=BASE_URL),
        }
    )


async def register_number(
    api: httpx.AsyncClient,
    *,
    number: str = NUMBER,
    account_sid: str = ACCOUNT_SID,
    auth_token: str = AUTH_TOKEN,
    **extra: Any,
) -> dict[str, Any]:
    response = await api.post(
        "/v1/channels/sms/numbers",
        json={"number": number, "account_sid": account_sid, "auth_token": auth_token, **extra},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def inbound_params(
    *,
    body: str = "Hello, my parcel has not arrived",
    from_: str = CUSTOMER_PHONE,
    to: str = NUMBER,
    sid: str | None = None,
    account_sid: str = ACCOUNT_SID,
    media: Sequence[tuple[str, str]] = (),
    **extra: str,
) -> list[tuple[str, str]]:
    """The form Twilio posts for an incoming message (the fields it really sends)."""
    sid = sid or new_sid("SM")
    params = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": str(len(media)),
        "ToCity": "SAN FRANCISCO",
        "FromZip": "94105",
        "SmsSid": sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": to,
        "ToZip": "94105",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": "2010-04-01",
    }
    for index, (url, content_type) in enumerate(media):
        params[f"MediaUrl{index}"] = url
        params[f"MediaContentType{index}"] = content_type
    params.update(extra)
    return list(params.items())


async def post_webhook(
    client: httpx.AsyncClient,
    params: Sequence[tuple[str, str]],
    *,
    path: str = INBOUND_PATH,
    auth_token: str | None = AUTH_TOKEN,
    signed_url: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Post a form as Twilio does, signed with ``auth_token`` for ``signed_url`` (default: the URL posted to);
    ``auth_token=None`` posts it unsigned."""
    sent_headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    if auth_token is not None:
        sent_headers["X-Twilio-Signature"] = sign(signed_url or BASE_URL + path, params, auth_token)
    # Twilio's webhooks carry no API key: drop the tenant's from the shared client.
    request = client.build_request("POST", path, content=urlencode(list(params)), headers=sent_headers)
    request.headers.pop("authorization", None)
    return await client.send(request)
