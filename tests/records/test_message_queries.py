"""How SQLite runs the queries that name many conversations at once (message intake, a customer's
conversations moving to another): each conversation and client id looked up by index, never through a
tenant's every conversation.

The embedded driver has no ANALYZE statistics. Given ``tenant_id = ? AND id IN (...)`` with more than a
few ids, SQLite reads all of a tenant's conversations through a tenant index (1.7 ms a batch at 5,000
conversations, growing with the tenant). The writer runs these once per batch of messages, so their
cost is the intake's. A batch as large as the one here shows the plan that a large database gets.
"""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from tests.conftest import TenantKey
from tests.records.query_plans import TENANT_ONLY, captured, plans

from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.kit.errors import NotFound
from cxstack.records.conversations.schemas import MessageCreate
from cxstack.records.conversations.service import MessagePost, PostedMessage, move_customer, post_messages
from cxstack.runtime import Runtime

CONVERSATIONS = 40
#: Reading the list of values a statement was given, which is what such a list is for.
VALUES_LIST = re.compile(r"^SCAN (?:wanted|\d+ CONSTANT ROWS)$")


async def test_a_batch_of_messages_looks_each_conversation_and_client_id_up_by_index(
    runtime: Runtime, api: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    if runtime.db.driver != "sqlite":
        pytest.skip("the plans pinned here are SQLite's; PostgreSQL plans from statistics")
    customer = (await api.post("/v1/customers", json={"name": "Ada"})).json()
    ids = []
    for _ in range(CONVERSATIONS):
        made = await api.post("/v1/conversations", json={"customer_id": customer["id"], "channel": "webchat"})
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    earlier = await api.post(
        f"/v1/conversations/{ids[3]}/messages",
        json={"direction": "inbound", "body": "hi", "client_id": "k-3"},
    )
    assert earlier.status_code == 201
    theirs = await api.post("/v1/customers", json={"name": "Grace"}, headers=other_tenant.headers)
    their_conversation = await api.post(
        "/v1/conversations",
        json={"customer_id": theirs.json()["id"], "channel": "webchat"},
        headers=other_tenant.headers,
    )
    assert their_conversation.status_code == 201

    def message(n: int) -> MessageCreate:
        return MessageCreate(direction="inbound", body=f"message {n}", client_id=f"k-{n}")

    requests = [
        (Context(), MessagePost(tenant.tenant_id, conversation_id, message(n)))
        for n, conversation_id in enumerate(ids)
    ]
    # Another tenant's conversation, named by a caller of this one.
    requests.append((Context(), MessagePost(tenant.tenant_id, their_conversation.json()["id"], message(99))))

    engine = create_engine(runtime.settings.database_url)
    try:
        with (
            Session(engine) as session,
            session.begin(),
            captured(engine, kinds=("SELECT", "WITH", "UPDATE")) as statements,
        ):
            uow = UnitOfWork(
                session,
                catalog=runtime.db.catalog,
                clock=runtime.db.clock,
                context=Context(),
                partitions=runtime.db.partitions,
            )
            outcomes = post_messages(uow, requests)
            steps_of = plans(session.connection(), statements)
            session.rollback()
    finally:
        engine.dispose()

    # What each caller is told: the resent client id gets the message from before, another tenant's
    # conversation does not exist for this one, every other message is new.
    posted = [outcome for outcome in outcomes if isinstance(outcome, PostedMessage)]
    assert [outcome.created for outcome in posted] == [n != 3 for n in range(CONVERSATIONS)]
    assert posted[3].message.id == earlier.json()["id"]
    assert isinstance(outcomes[-1], NotFound) and outcomes[-1].field == "conversation_id"

    assert any("conversations" in statement for statement in steps_of)
    assert any("client_id" in statement for statement in steps_of)
    for statement, steps in steps_of.items():
        for step in steps:
            if VALUES_LIST.match(step):
                continue
            assert not step.startswith("SCAN"), f"{step}\n  in {statement}"
            assert not TENANT_ONLY.search(step), f"{step}\n  in {statement}"


async def test_moving_many_conversations_to_another_customer_names_each_by_index(
    runtime: Runtime, api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    if runtime.db.driver != "sqlite":
        pytest.skip("the plans pinned here are SQLite's; PostgreSQL plans from statistics")
    ada, twin = [(await api.post("/v1/customers", json={"name": name})).json() for name in ("Ada", "Twin")]
    ids = []
    for _ in range(CONVERSATIONS):
        made = await api.post("/v1/conversations", json={"customer_id": ada["id"], "channel": "email"})
        ids.append(made.json()["id"])

    engine = create_engine(runtime.settings.database_url)
    try:
        with (
            Session(engine) as session,
            session.begin(),
            captured(engine, kinds=("SELECT", "UPDATE")) as statements,
        ):
            uow = UnitOfWork(
                session,
                catalog=runtime.db.catalog,
                clock=runtime.db.clock,
                context=Context(),
                partitions=runtime.db.partitions,
            )
            moved = move_customer(
                uow,
                tenant_id=tenant.tenant_id,
                from_customer_id=ada["id"],
                to_customer_id=twin["id"],
                conversation_ids=ids,
            )
            steps_of = plans(session.connection(), statements)
            session.rollback()
    finally:
        engine.dispose()

    assert moved == sorted(ids)
    assert any(statement.startswith("UPDATE conversations") for statement in steps_of)
    for statement, steps in steps_of.items():
        for step in steps:
            assert not step.startswith("SCAN"), f"{step}\n  in {statement}"
            assert not TENANT_ONLY.search(step), f"{step}\n  in {statement}"
