"""Inbound SMS received in bulk: many webhooks written in one call do what each would do alone."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from tests.channels.sms.conftest import (
    ACCOUNT_SID,
    CUSTOMER_PHONE,
    NUMBER,
    events_of,
    inbound_params,
    post_webhook,
    register_number,
)
from tests.channels.sms.fake_twilio import new_sid

from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.channels.numbers.schemas import NumberRoute
from cxstack.channels.numbers.service import route_for
from cxstack.channels.sms.intake import InboundRequest, receive_sms_batch
from cxstack.channels.sms.schemas import InboundSms
from cxstack.channels.sms.service import InboundOutcome
from cxstack.records.conversations.service import MessageTooLarge
from cxstack.runtime import Runtime

PHONES = [f"+1415555{n:04d}" for n in range(3000, 3006)]


def _sms(phone: str, body: str = "hello", sid: str | None = None) -> InboundSms:
    return InboundSms(
        message_sid=sid or new_sid("SM"),
        account_sid=ACCOUNT_SID,
        from_number=phone,
        to_number=NUMBER,
        body=body,
    )


async def _route(runtime: Runtime) -> NumberRoute:
    route = await runtime.db.read(lambda session: route_for(session, number=NUMBER))
    assert route is not None
    return route


async def _batch(runtime: Runtime, route: NumberRoute, messages: list[InboundSms]) -> list[Any]:
    contexts = [Context(actor=f"sms:{NUMBER}", source="test") for _ in messages]

    def write(uow: UnitOfWork) -> list[Any]:
        return list(
            receive_sms_batch(
                uow,
                [
                    (context, InboundRequest(route, sms))
                    for context, sms in zip(contexts, messages, strict=True)
                ],
            )
        )

    return await runtime.db.write(write)


async def _conversation_messages(api: httpx.AsyncClient, conversation_id: str) -> list[str]:
    response = await api.get(f"/v1/conversations/{conversation_id}/messages")
    assert response.status_code == 200
    return [m["body"] for m in response.json()["data"]]


async def test_a_batch_makes_each_new_sender_one_customer_and_one_conversation(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await register_number(api)
    route = await _route(runtime)
    messages = [_sms(phone, f"first from {phone}") for phone in PHONES[:3]]
    messages += [_sms(PHONES[0], "second from the first sender")]
    outcomes = await _batch(runtime, route, messages)

    assert all(isinstance(outcome, InboundOutcome) for outcome in outcomes)
    assert len({outcome.customer_id for outcome in outcomes}) == 3
    assert outcomes[0].customer_id == outcomes[3].customer_id
    assert outcomes[0].conversation_id == outcomes[3].conversation_id
    for phone, outcome in zip(PHONES[:3], outcomes, strict=False):
        found = (await api.get("/v1/customers/lookup", params={"kind": "phone", "value": phone})).json()
        assert found["id"] == outcome.customer_id
        assert found["phone"] == phone
    assert await _conversation_messages(api, outcomes[0].conversation_id) == [
        f"first from {PHONES[0]}",
        "second from the first sender",
    ]
    created = await events_of(runtime, "customer.created")
    assert sorted(e.data["phone"] for e in created) == sorted(PHONES[:3])
    linked = await events_of(runtime, "identity.linked")
    assert sorted(e.data["value"] for e in linked) == sorted(PHONES[:3])
    assert len(await events_of(runtime, "conversation.created")) == 3
    received = await events_of(runtime, "message.received")
    assert len(received) == 4
    # Each message's events carry its own webhook's correlation id; a new customer's, its first message's.
    correlations = {e.data["client_id"]: e.correlationid for e in received}
    assert len(set(correlations.values())) == 4
    first_of = {m.from_number: correlations[m.message_sid] for m in reversed(messages)}
    assert {e.data["phone"]: e.correlationid for e in created} == first_of


async def test_a_batch_joins_existing_customers_and_their_open_conversations(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await register_number(api)
    await post_webhook(api, inbound_params(body="earlier", from_=CUSTOMER_PHONE))
    [conversation] = (await api.get("/v1/conversations")).json()["data"]
    # A customer made through the API, with a closed SMS conversation: the next message starts another.
    other = (await api.post("/v1/customers", json={"phone": PHONES[4]})).json()
    closed = (await api.post("/v1/conversations", json={"customer_id": other["id"], "channel": "sms"})).json()
    assert (await api.post(f"/v1/conversations/{closed['id']}/close")).status_code == 200

    route = await _route(runtime)
    outcomes = await _batch(runtime, route, [_sms(CUSTOMER_PHONE, "later"), _sms(PHONES[4], "back again")])
    assert outcomes[0].conversation_id == conversation["id"]
    assert outcomes[0].customer_id == conversation["customer_id"]
    assert outcomes[1].customer_id == other["id"]
    assert outcomes[1].conversation_id != closed["id"]
    assert await _conversation_messages(api, conversation["id"]) == ["earlier", "later"]
    assert len(await events_of(runtime, "customer.created")) == 2  # the two made before the batch


async def test_a_sender_merged_into_another_customer_reaches_the_survivor(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await register_number(api)
    loser = (await api.post("/v1/customers", json={"phone": PHONES[5]})).json()
    survivor = (await api.post("/v1/customers", json={"name": "Survivor"})).json()
    merged = await api.post(f"/v1/customers/{survivor['id']}/merge", json={"source_customer_id": loser["id"]})
    assert merged.status_code in (200, 201), merged.text
    route = await _route(runtime)
    [outcome] = await _batch(runtime, route, [_sms(PHONES[5], "who am I")])
    assert outcome.customer_id == survivor["id"]


async def test_repeated_message_sids_are_received_once_in_and_across_batches(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await register_number(api)
    route = await _route(runtime)
    sid = new_sid("SM")
    first, again = await _batch(runtime, route, [_sms(PHONES[0], "once", sid), _sms(PHONES[0], "once", sid)])
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.message_id == first.message_id
    [later] = await _batch(runtime, route, [_sms(PHONES[0], "once", sid)])
    assert later.duplicate and later.message_id == first.message_id
    assert await _conversation_messages(api, first.conversation_id) == ["once"]
    assert len(await events_of(runtime, "message.received")) == 1


async def test_keywords_in_a_batch_act_as_they_do_alone(api: httpx.AsyncClient, runtime: Runtime) -> None:
    await register_number(api)
    route = await _route(runtime)
    outcomes = await _batch(
        runtime,
        route,
        [_sms(PHONES[0], "hi"), _sms(PHONES[0], "STOP"), _sms(PHONES[1], "hello"), _sms(PHONES[2], "help")],
    )
    assert [outcome.keyword for outcome in outcomes] == ["", "stop", "", "help"]
    assert outcomes[0].conversation_id == outcomes[1].conversation_id
    [opted_out] = await events_of(runtime, "sms.opted_out")
    assert opted_out.data["phone"] == PHONES[0]
    assert len(await events_of(runtime, "sms.help_requested")) == 1
    assert len(await events_of(runtime, "customer.created")) == 3


async def test_a_message_that_cannot_be_stored_fails_alone(api: httpx.AsyncClient, runtime: Runtime) -> None:
    await register_number(api)
    route = await _route(runtime)
    too_long = "x" * (70 * 1024)
    requests = [
        InboundRequest(route, _sms(PHONES[0], "fine")),
        InboundRequest(route, _sms(PHONES[1], too_long)),
    ]
    outcomes = await asyncio.gather(
        *(runtime.db.write_batched(receive_sms_batch, request) for request in requests),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], InboundOutcome)
    assert isinstance(outcomes[1], MessageTooLarge)
    customers = (await api.get("/v1/customers")).json()["data"]
    assert [c["phone"] for c in customers] == [PHONES[0]]  # nothing written for the failed one


async def test_concurrent_webhooks_are_each_stored_once(api: httpx.AsyncClient, runtime: Runtime) -> None:
    await register_number(api)
    params = [inbound_params(body=f"message {n}", from_=PHONES[n % 3]) for n in range(30)]
    params += params[:5]  # Twilio retrying five of them meanwhile
    responses = await asyncio.gather(*(post_webhook(api, p) for p in params))
    assert {r.status_code for r in responses} == {200}
    customers = (await api.get("/v1/customers")).json()["data"]
    assert sorted(c["phone"] for c in customers) == sorted(PHONES[:3])
    received = await events_of(runtime, "message.received")
    assert sorted(e.data["body"] for e in received) == sorted(f"message {n}" for n in range(30))
    assert len(await events_of(runtime, "conversation.created")) == 3
