"""One set of rules for inbound SMS: the same messages received one at a time (each a batch of one) and
in batches, each on an empty database, leave the same customers, conversations, messages, opt-outs and
events, and answer each message the same."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.channels.sms.conftest import ACCOUNT_SID, AUTH_TOKEN, CUSTOMER_PHONE, NUMBER, inbound_params
from tests.channels.support import events_of, runtime_on_empty_database, settle
from tests.conftest import make_tenant

from cxstack.backbone.unit_of_work import Context
from cxstack.channels.numbers.schemas import NumberCreate, NumberRoute
from cxstack.channels.numbers.service import register_number, route_for
from cxstack.channels.sms.intake import InboundRequest, receive_sms_batch
from cxstack.channels.sms.models import SmsOptOut
from cxstack.channels.sms.plugins.twilio import TwilioSmsProvider
from cxstack.channels.sms.service import InboundOutcome
from cxstack.config import Settings
from cxstack.records.conversations.models import Conversation, Message
from cxstack.records.customers.models import Customer
from cxstack.runtime import Runtime

PHONES = [f"+1415555{n:04d}" for n in range(3100, 3106)]
REPEATED_SID = "SM" + "ab" * 16

#: Twilio's webhooks (as ``inbound_params`` takes them): every case the intake knows.
WEBHOOKS: list[dict[str, Any]] = [
    {"from_": PHONES[0], "body": "Hello, I am new here", "sid": REPEATED_SID},
    {"from_": CUSTOMER_PHONE, "body": "Me again"},
    {"from_": PHONES[1], "body": "STOP"},
    {"from_": PHONES[1], "body": "start"},
    {"from_": CUSTOMER_PHONE, "body": "Stop."},
    {"from_": PHONES[2], "body": "HELP"},
    {"from_": PHONES[2], "body": "Thanks for the help"},
    # A retry of the first message.
    {"from_": PHONES[0], "body": "Hello, I am new here", "sid": REPEATED_SID},
    # A number in its national format, read in the country Twilio names, then in international format.
    {"from_": "07911 123456", "body": "Hello from London", "FromCountry": "GB"},
    {"from_": "+44 7911 123456", "body": "Again from London", "FromCountry": "GB"},
    # Two messages of one new sender.
    {"from_": PHONES[3], "body": "First"},
    {"from_": PHONES[3], "body": "Second"},
    {"from_": PHONES[4], "body": "", "media": [("https://api.twilio.com/media/ME1/photo.jpg", "image/jpeg")]},
]


async def _seed(runtime: Runtime) -> NumberRoute:
    """A tenant, its number, and a customer who wrote before; return the number's route."""
    tenant = await make_tenant(runtime, "acme")
    await runtime.db.write(
        lambda uow: register_number(
            uow,
            tenant_id=tenant.tenant_id,
            data=NumberCreate(number=NUMBER, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN),
        )
    )
    route = await runtime.db.read(lambda session: route_for(session, number=NUMBER))
    assert route is not None
    earlier = InboundRequest(
        route, TwilioSmsProvider().parse_inbound(inbound_params(body="Earlier", sid="SM" + "e" * 32))
    )
    await runtime.db.write(lambda uow: receive_sms_batch(uow, [(uow.context, earlier)]))
    return route


async def _receive(settings: Settings, name: str, *, batch_size: int) -> dict[str, Any]:
    """Receive ``WEBHOOKS`` on an empty database in batches of ``batch_size``; return what became of them."""
    async with runtime_on_empty_database(settings, name) as runtime:
        route = await _seed(runtime)
        provider = TwilioSmsProvider()
        requests = [
            (
                Context(actor=f"sms:{NUMBER}", correlation_id=f"corr-{number}"),
                InboundRequest(
                    route, provider.parse_inbound(inbound_params(**{"sid": f"SM{number:032x}", **webhook}))
                ),
            )
            for number, webhook in enumerate(WEBHOOKS)
        ]
        outcomes: list[InboundOutcome | BaseException] = []
        for start in range(0, len(requests), batch_size):
            batch = requests[start : start + batch_size]
            outcomes += await runtime.db.write(lambda uow, batch=batch: receive_sms_batch(uow, batch))
        # The HELP answer is sent; what that publishes is published in both runs.
        await settle(runtime)
        state = await runtime.db.read(lambda session: _state(session, route.tenant_id, outcomes))
        # Each event with the context of the message it was published for (the seed's have none of those).
        state["events"] = Counter(
            (e.type, e.correlationid if (e.correlationid or "").startswith("corr-") else None)
            for e in await events_of(runtime)
        )
        return state


def _state(
    session: Session, tenant_id: str, outcomes: list[InboundOutcome | BaseException]
) -> dict[str, Any]:
    """The tenant's records, with ids replaced by what names them in both runs: a customer by its phone, a
    conversation by its customer's phone and first client id, a message by its client id."""
    customers = session.scalars(select(Customer).where(Customer.tenant_id == tenant_id)).all()
    phone = {c.id: c.phone for c in customers}
    messages = session.scalars(
        select(Message).where(Message.tenant_id == tenant_id).order_by(Message.created_at, Message.id)
    ).all()
    by_conversation: dict[str, list[Message]] = {}
    for message in messages:
        by_conversation.setdefault(message.conversation_id, []).append(message)
    conversation = {cid: min(str(m.client_id) for m in found) for cid, found in by_conversation.items()}
    client_id = {m.id: m.client_id for m in messages}
    opt_outs = session.scalars(select(SmsOptOut).where(SmsOptOut.tenant_id == tenant_id)).all()
    return {
        "answers": [
            (type(o).__name__,)
            if isinstance(o, BaseException)
            else (
                phone[o.customer_id],
                conversation[o.conversation_id],
                client_id[o.message_id],
                o.duplicate,
                o.keyword,
            )
            for o in outcomes
        ],
        "customers": sorted((c.phone, c.email, c.name) for c in customers),
        "conversations": sorted(
            (
                conversation[c.id],
                phone[c.customer_id],
                c.channel,
                c.status,
                [
                    (m.direction, m.author_kind, m.body, m.client_id, [a.get("url") for a in m.attachments])
                    for m in by_conversation[c.id]
                ],
            )
            for c in session.scalars(select(Conversation).where(Conversation.tenant_id == tenant_id))
        ),
        "opt_outs": sorted((o.phone, phone[o.customer_id], o.opted_out, o.keyword) for o in opt_outs),
    }


@pytest.mark.parametrize("batch_size", [len(WEBHOOKS), 4], ids=["one batch", "batches of four"])
async def test_messages_received_one_at_a_time_or_together_come_out_the_same(
    settings: Settings, batch_size: int
) -> None:
    one_at_a_time = await _receive(settings, "one-at-a-time", batch_size=1)
    together = await _receive(settings, "together", batch_size=batch_size)
    for part, expected in one_at_a_time.items():
        assert together[part] == expected, part
    # What the messages exercise, so that the comparison compares something.
    answers = one_at_a_time["answers"]
    assert [answer[4] for answer in answers].count("stop") == 2
    assert [answer[3] for answer in answers].count(True) == 1
    assert answers[8][0] == answers[9][0] == "+447911123456"
    assert answers[10][1] == answers[11][1]
    assert one_at_a_time["opt_outs"] == sorted(
        [(PHONES[1], PHONES[1], False, "START"), (CUSTOMER_PHONE, CUSTOMER_PHONE, True, "STOP")]
    )
    events = one_at_a_time["events"]
    assert events["sms.opted_out", "corr-2"] == events["sms.opted_in", "corr-3"] == 1
    assert events["sms.opted_out", "corr-4"] == events["sms.help_requested", "corr-5"] == 1
