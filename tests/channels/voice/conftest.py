"""Voice fixtures: the fake Twilio Voice REST API, settings pointing at it, the tenant's number."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.channels.voice.fake_twilio_calls import FakeTwilioCalls, FakeTwilioCallsServer
from tests.channels.voice.support import ACCOUNT_SID, AUTH_TOKEN, NUMBER, PUBLIC_URL, register_number

from cxstack.config import Settings, VoiceSettings


@pytest.fixture(scope="session")
def fake_calls_server() -> Iterator[FakeTwilioCallsServer]:
    server = FakeTwilioCallsServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_calls(fake_calls_server: FakeTwilioCallsServer) -> FakeTwilioCalls:
    """The fake Twilio, emptied, knowing the test account."""
    state = fake_calls_server.state
    state.reset()
    state.add_account(ACCOUNT_SID, AUTH_TOKEN, numbers=(NUMBER,))
    return state


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "delete_recordings: the voice channel deletes recordings at Twilio once it has copied them"
    )


@pytest.fixture
def settings(settings: Settings, fake_calls: FakeTwilioCalls, request: pytest.FixtureRequest) -> Settings:
    """cxstack's settings with the voice channel calling the fake Twilio."""
    voice = VoiceSettings(
        twilio_api_url=fake_calls.url,
        public_url=PUBLIC_URL,
        delete_recordings_after_copy=request.node.get_closest_marker("delete_recordings") is not None,
    )
    return settings.model_copy(
        update={"effect_retry_base_seconds": 0.01, "effect_poll_seconds": 0.02, "voice": voice}
    )


@pytest.fixture
async def number(api: httpx.AsyncClient) -> str:
    """The acme tenant's Twilio number, registered once for messages and calls."""
    await register_number(api)
    return "+14155550100"
