"""One conversation across channels, as a customer lives it.

A customer chats on the web about a failed payment and asks for a call; the chat is escalated to a voice
agent, whose view of the call shows the customer, the whole chat and what the bot collected, without the
customer repeating anything; the agent follows up by email; the customer's timeline shows the chat, the
call and the email in order. Everything runs for real: the webchat WebSocket on a uvicorn server, Twilio's
signed webhooks, the call update at an in-process Twilio, the reply through an SMTP relay (aiosmtpd).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.channels.email.support import RecordingRelay
from tests.channels.voice.fake_twilio_calls import FakeTwilioCalls, FakeTwilioCallsServer
from tests.channels.voice.support import (
    ACCOUNT_SID,
    CALLER,
    NUMBER,
    PUBLIC_URL,
    press,
    register_number,
    settle,
    start_call,
    status,
    the_call,
)
from tests.channels.webchat.conftest import LiveServer, serving, visitor

from cxstack.config import Settings, VoiceSettings
from cxstack.runtime import Runtime
from cxstack.web.app import create_app

INBOX = "support@acme.example"


@pytest.fixture(scope="module")
def fake_calls_server() -> Iterator[FakeTwilioCallsServer]:
    server = FakeTwilioCallsServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_calls(fake_calls_server: FakeTwilioCallsServer) -> FakeTwilioCalls:
    state = fake_calls_server.state
    state.reset()
    return state


@pytest.fixture
def settings(
    database_url: str,
    tmp_path: Path,
    relay: RecordingRelay,
    fake_calls: FakeTwilioCalls,
) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        handler_retry_base_seconds=0.01,
        timer_poll_seconds=0.05,
        effect_retry_base_seconds=0.01,
        effect_poll_seconds=0.02,
        smtp_relay_host="127.0.0.1",
        smtp_relay_port=relay.port,
        smtp_relay_security="none",
        smtp_relay_timeout_seconds=5,
        voice=VoiceSettings(twilio_api_url=fake_calls.url, public_url=PUBLIC_URL),
    )


@pytest.fixture
async def server(runtime: Runtime) -> AsyncIterator[LiveServer]:
    async with serving(create_app(runtime, manage_runtime=False)) as url:
        yield LiveServer(url)


async def _ok(response: httpx.Response, status_code: int = 200) -> dict[str, Any]:
    assert response.status_code == status_code, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_chat_escalated_to_a_call_keeps_everything_and_the_timeline_shows_chat_call_and_email(
    api: httpx.AsyncClient,
    runtime: Runtime,
    server: LiveServer,
    relay: RecordingRelay,
    fake_calls: FakeTwilioCalls,
) -> None:
    # The tenant: a website widget, a Twilio number, a support inbox.
    widget = await _ok(await api.put("/v1/channels/webchat/settings", json={"greeting": "Hi from Acme"}))
    await register_number(api)
    fake_calls.add_account(ACCOUNT_SID, "f" * 8 + "0123456789abcdef" + "e" * 8)
    await _ok(
        await api.post("/v1/channels/email/inboxes", json={"address": INBOX, "name": "Acme Support"}), 201
    )

    # 1. The customer chats on the website; a bot answers and collects what it learns.
    async with visitor(server, widget["widget_key"]) as (chat, first_welcome):
        await chat.send({"type": "contact", "name": "Jane Doe", "email": "jane@example.com"})
        await chat.expect("contact_saved")
        await chat.send(
            {"type": "message", "client_id": "c1", "body": "Hi, my card payment for order A-1042 failed"}
        )
        conversation_id = (await chat.expect("ack", client_id="c1"))["message"]["conversation_id"]

        async def bot(body: str) -> None:
            await _ok(
                await api.post(
                    f"/v1/conversations/{conversation_id}/messages",
                    json={
                        "direction": "outbound",
                        "author_kind": "bot",
                        "author_id": "payments-bot",
                        "body": body,
                    },
                ),
                201,
            )
            await chat.expect("message")

        await bot("Sorry about that. What did the payment page say?")
        await chat.send(
            {"type": "message", "client_id": "c2", "body": "Card declined, but my bank says the card is fine"}
        )
        await chat.expect("ack", client_id="c2")
        collected = {
            "intent": "failed_payment",
            "order_id": "A-1042",
            "payment_error": "card_declined",
            "bank_confirms_card": True,
        }
        await _ok(await api.patch(f"/v1/conversations/{conversation_id}", json={"attributes": collected}))
        await chat.send({"type": "message", "client_id": "c3", "body": "Can someone call me? (415) 555-2671"})
        await chat.expect("ack", client_id="c3")

        # 2. The bot escalates the chat to a call.
        escalation = await _ok(
            await api.post(
                "/v1/channels/voice/escalations",
                json={
                    "conversation_id": conversation_id,
                    "phone": "(415) 555-2671",
                    "reason": "asked for a call about a failed payment",
                },
            ),
            201,
        )
        assert escalation["status"] == "waiting" and escalation["phone"] == CALLER
        await bot("Please call us at +1 415 555 0100: an agent will have this chat in front of them.")

    # 3. The customer calls from their phone (Twilio's signed webhook), picks support in the menu.
    call_sid, menu = await start_call(api, from_=CALLER)
    assert list(menu.iter("Gather"))
    fake_calls.add_call(call_sid, account_sid=ACCOUNT_SID, from_number=CALLER, to_number=NUMBER)
    await press(api, call_sid, "1")
    call = await the_call(api, call_sid)
    assert call["conversation_id"] == conversation_id and call["status"] == "queued"
    escalation = await _ok(await api.get(f"/v1/channels/voice/escalations/{escalation['id']}"))
    assert escalation["status"] == "connected" and escalation["call_id"] == call["id"]

    # 4. An agent takes the call; Twilio is told to connect them in the call's conference.
    await _ok(
        await api.post(
            f"/v1/channels/voice/calls/{call['id']}/connect",
            json={"agent_id": "agent-7", "agent_name": "Sam Carter"},
        )
    )

    def agents() -> list[str]:
        live = fake_calls.conference(call["id"])
        return [p.form["To"] for p in live.participants.values() if p.form] if live is not None else []

    await settle(runtime, until=lambda: agents() == ["client:agent-7"])
    assert fake_calls.received()[0].twiml().findtext("Dial/Conference") == call["id"]

    # 5. The agent's view: who calls, the whole chat, what the bot collected, the menu choice.
    view = await _ok(await api.get(f"/v1/channels/voice/calls/{call['id']}/context"))
    customer = view["customer"]
    assert customer["name"] == "Jane Doe" and customer["email"] == "jane@example.com"
    assert {(i["kind"], i["value"]) for i in customer["identities"]} >= {
        ("email", "jane@example.com"),
        ("phone", CALLER),
    }
    assert any(i["kind"] == "webchat_visitor" for i in customer["identities"])
    transcript = [(m["channel"], m["author_kind"], m["body"]) for m in view["transcript"]]
    assert transcript == [
        ("webchat", "customer", "Hi, my card payment for order A-1042 failed"),
        ("webchat", "bot", "Sorry about that. What did the payment page say?"),
        ("webchat", "customer", "Card declined, but my bank says the card is fine"),
        ("webchat", "customer", "Can someone call me? (415) 555-2671"),
        (
            "webchat",
            "bot",
            "Please call us at +1 415 555 0100: an agent will have this chat in front of them.",
        ),
        ("voice", "system", f"Incoming call from {CALLER}"),
        (
            "voice",
            "system",
            "Caller chose support in the phone menu (pressed 1); waiting in the support queue",
        ),
        ("voice", "system", "Call answered by Sam Carter"),
    ]
    assert {key: view["collected"][key] for key in collected} == collected
    assert view["ivr"]["option"] == "support" and view["ivr"]["digits"] == "1"
    assert view["conversation"]["id"] == conversation_id and view["conversation"]["channel"] == "voice"
    assert view["conversation"]["assignee"] == "agent-7"

    # The customer's widget, opened again, shows the chat only: what the system noted about the call is
    # for the agent and the timeline, never drawn in the customer's chat.
    chat_only = [
        "Hi, my card payment for order A-1042 failed",
        "Sorry about that. What did the payment page say?",
        "Card declined, but my bank says the card is fine",
        "Can someone call me? (415) 555-2671",
        "Please call us at +1 415 555 0100: an agent will have this chat in front of them.",
    ]
    async with visitor(server, widget["widget_key"], visitor_id=first_welcome["visitor_id"]) as (_, again):
        assert [m["body"] for m in again["history"]] == chat_only
    listed = await _ok(
        await httpx.AsyncClient(base_url=server.url).get(
            "/widget/v1/messages",
            params={"widget_key": widget["widget_key"], "visitor_id": first_welcome["visitor_id"]},
        )
    )
    assert [m["body"] for m in listed["data"]] == chat_only

    # 6. The call ends; the agent follows up by email in the same conversation.
    assert (await status(api, call_sid, "completed", CallDuration="185")).status_code == 204
    await _ok(
        await api.post(
            f"/v1/conversations/{conversation_id}/messages",
            json={
                "direction": "outbound",
                "author_id": "agent-7",
                "channel": "email",
                "body": "As promised: your bank cleared the card; please retry the payment for order A-1042.",
            },
        ),
        201,
    )
    await settle(runtime, until=lambda: len(relay.received) == 1)
    [mail] = relay.received
    assert mail.rcpt_tos == ["jane@example.com"]
    sent = BytesParser(policy=policy.default).parsebytes(mail.data)
    assert "please retry the payment for order A-1042" in sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    # 7. The timeline shows the chat, the call and the email, in order.
    await settle(runtime)
    entries = (await _ok(await api.get(f"/v1/customers/{customer['id']}/timeline", params={"limit": 200})))[
        "data"
    ]
    times = [entry["occurred_at"] for entry in entries]
    assert times == sorted(times)
    channels = [entry["channel"] for entry in entries if entry["channel"]]
    runs = [channel for index, channel in enumerate(channels) if index == 0 or channels[index - 1] != channel]
    assert runs == ["webchat", "voice", "email"]
    summaries = [entry["summary"] for entry in entries]
    for expected in (
        "Hi, my card payment for order A-1042 failed",
        "Conversation moved from webchat to voice",
        f"Incoming call from {CALLER}",
        "Call answered by Sam Carter",
        "Call ended after 3 min 5 s",
        "Conversation moved from voice to email",
    ):
        assert expected in summaries, (expected, summaries)
    assert summaries.index("Call ended after 3 min 5 s") < summaries.index(
        "Conversation moved from voice to email"
    )
    assert any(summary.startswith("As promised: your bank cleared the card") for summary in summaries)
