"""Password resets: always 202; a one-time link mailed through the SMTP relay when the user exists, valid
for an hour and once, that sets the password and ends the user's sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from tests.channels.email.support import RecordingRelay
from tests.conftest import TenantKey
from tests.governance.staff.people import AGENT_PASSWORD, Person, make_person, problem_of, sign_in

from cxstack.kit.clock import FrozenClock
from cxstack.runtime import Runtime

NEW_PASSWORD = "a brand new password"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def agent(runtime: Runtime, tenant: TenantKey) -> Person:
    return await make_person(runtime, tenant.tenant_id, "ana@acme.example", "agent", AGENT_PASSWORD)


async def request_reset(browser: httpx.AsyncClient, runtime: Runtime, email: str) -> None:
    answer = await browser.post("/v1/auth/password-reset", json={"tenant": "acme", "email": email})
    assert answer.status_code == 202, answer.text
    assert runtime.effect_runner is not None
    await runtime.effect_runner.drain()


def token_in(relay: RecordingRelay, index: int = -1) -> str:
    """The token of the reset link in a mail the relay was handed."""
    message = BytesParser(policy=policy.default).parsebytes(relay.received[index].data)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    [link] = [word for word in body.get_content().split() if word.startswith("https://")]
    url = urlsplit(link)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://cx.acme.example/reset-password"
    return parse_qs(url.query)["token"][0]


async def test_a_reset_link_sets_the_password_once_and_ends_the_users_sessions(
    browser: httpx.AsyncClient, runtime: Runtime, relay: RecordingRelay, agent: Person
) -> None:
    await sign_in(browser, agent)
    await request_reset(browser, runtime, "ANA@acme.example")
    [mail] = relay.received
    assert mail.rcpt_tos == ["ana@acme.example"] and mail.mail_from == "no-reply@acme.example"
    token = token_in(relay)

    short = await browser.post("/v1/auth/password-reset/confirm", json={"token": token, "password": "short"})
    assert short.status_code == 422 and problem_of(short)["field"] == "password"
    done = await browser.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert done.status_code == 204, done.text
    # The session signed in before the reset has ended.
    assert (await browser.get("/v1/auth/me")).status_code == 401
    again = await browser.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert again.status_code == 422 and problem_of(again)["code"] == "reset_token_invalid"
    assert problem_of(again)["field"] == "token"

    old = await browser.post(
        "/v1/auth/sign-in", json={"tenant": "acme", "email": agent.email, "password": AGENT_PASSWORD}
    )
    assert old.status_code == 401
    await sign_in(browser, Person(agent.user_id, agent.email, NEW_PASSWORD))


async def test_a_reset_link_expires_after_an_hour(
    browser: httpx.AsyncClient, runtime: Runtime, relay: RecordingRelay, agent: Person, clock: FrozenClock
) -> None:
    await request_reset(browser, runtime, agent.email)
    await request_reset(browser, runtime, agent.email)
    assert len(relay.received) == 1, "one mail a minute at most"
    clock.advance(timedelta(minutes=1))
    await request_reset(browser, runtime, agent.email)
    first, second = token_in(relay, 0), token_in(relay, 1)
    assert first != second
    clock.advance(timedelta(minutes=59))
    expired = await browser.post(
        "/v1/auth/password-reset/confirm", json={"token": first, "password": NEW_PASSWORD}
    )
    assert expired.status_code == 422 and problem_of(expired)["code"] == "reset_token_invalid"
    clock.advance(timedelta(seconds=-1))
    used = await browser.post(
        "/v1/auth/password-reset/confirm", json={"token": second, "password": NEW_PASSWORD}
    )
    assert used.status_code == 204, used.text


async def test_unknown_and_disabled_users_get_the_same_202_and_no_mail(
    browser: httpx.AsyncClient,
    key_client: httpx.AsyncClient,
    runtime: Runtime,
    relay: RecordingRelay,
    agent: Person,
) -> None:
    assert (await key_client.post(f"/v1/users/{agent.user_id}/disable")).status_code == 200
    for tenant, email in (("acme", "nobody@acme.example"), ("acme", agent.email), ("nope", agent.email)):
        answer = await browser.post("/v1/auth/password-reset", json={"tenant": tenant, "email": email})
        assert answer.status_code == 202 and answer.json() == {"status": "accepted"}
    assert runtime.effect_runner is not None
    await runtime.effect_runner.drain()
    assert relay.received == []
    forged = await browser.post(
        "/v1/auth/password-reset/confirm", json={"token": "not-a-token", "password": NEW_PASSWORD}
    )
    assert forged.status_code == 422 and problem_of(forged)["code"] == "reset_token_invalid"


async def test_a_user_created_without_a_password_sets_one_through_a_reset(
    browser: httpx.AsyncClient, runtime: Runtime, relay: RecordingRelay, tenant: TenantKey
) -> None:
    newcomer = await make_person(runtime, tenant.tenant_id, "new@acme.example", "agent", None)
    nothing = await browser.post(
        "/v1/auth/sign-in",
        json={"tenant": "acme", "email": newcomer.email, "password": "any password at all"},
    )
    assert nothing.status_code == 401
    await request_reset(browser, runtime, newcomer.email)
    done = await browser.post(
        "/v1/auth/password-reset/confirm", json={"token": token_in(relay), "password": NEW_PASSWORD}
    )
    assert done.status_code == 204
    await sign_in(browser, Person(newcomer.user_id, newcomer.email, NEW_PASSWORD))
