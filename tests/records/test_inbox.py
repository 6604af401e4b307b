"""The inbox an agent works from: the conversation list's filters (who has it, their teams, channel,
status, priority, tag, queue), its search, both orders with their cursors, and the counts of the inbox's
sections, each within what the caller sees."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from tests.conftest import TenantKey
from tests.governance.staff.people import Person, make_person, sign_in

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.governance.staff import service as staff
from cxstack.records.conversations import service as conversations
from cxstack.runtime import Runtime
from cxstack.web.app import create_app


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        handler_retry_base_seconds=0.01,
        timer_poll_seconds=0.05,
        auth={"cookie_secure": False},
    )


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime, manage_runtime=False)


@dataclass
class Desk:
    key: httpx.AsyncClient
    people: dict[str, Person]
    browsers: dict[str, httpx.AsyncClient]
    teams: dict[str, str]
    #: Conversation ids by name (``c1`` .. ``c6``).
    ids: dict[str, str]

    def names(self, answer: httpx.Response) -> list[str]:
        assert answer.status_code == 200, answer.text
        by_id = {conversation_id: name for name, conversation_id in self.ids.items()}
        return [by_id[item["id"]] for item in answer.json()["data"]]


#: name: (customer, channel, team, assignee, priority, status, queue, subject)
CONVERSATIONS: dict[str, tuple[str, str, str | None, str | None, str, str, str | None, str]] = {
    "c1": ("ada", "email", "A", "agent_a", "high", "open", "q1", "Invoice"),
    "c2": ("ada", "sms", "B", None, "normal", "open", None, "Delivery"),
    "c3": ("bob", "webchat", None, None, "urgent", "pending", None, "Question"),
    "c4": ("carol", "email", "A", "agent_b", "normal", "open", None, "Returns"),
    "c5": ("carol", "sms", "B", "agent_a", "low", "closed", None, "Thanks"),
    "c6": ("bob", "email", "B", "agent_b", "normal", "open", None, "Follow-up"),
}


async def _team(runtime: Runtime, tenant_id: str, name: str) -> str:
    def create(uow: UnitOfWork) -> str:
        return staff.create_team(uow, tenant_id=tenant_id, name=name).id

    return await runtime.db.write(create)


@pytest.fixture
async def desk(
    runtime: Runtime, app: FastAPI, api: httpx.AsyncClient, tenant: TenantKey
) -> AsyncIterator[Desk]:
    teams = {name: await _team(runtime, tenant.tenant_id, name) for name in ("A", "B")}
    people = {
        "agent_a": await make_person(
            runtime, tenant.tenant_id, "ann@acme.example", "agent", "ann password 1234", [teams["A"]]
        ),
        "agent_b": await make_person(
            runtime, tenant.tenant_id, "ben@acme.example", "agent", "ben password 1234", [teams["B"]]
        ),
        "supervisor_a": await make_person(
            runtime, tenant.tenant_id, "sue@acme.example", "supervisor", "sue password 1234", [teams["A"]]
        ),
        "admin": await make_person(
            runtime, tenant.tenant_id, "ada@acme.example", "admin", "ada password 1234"
        ),
    }
    customers: dict[str, str] = {}
    for name, fields in (
        ("ada", {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+14155552671"}),
        ("bob", {"name": "Bob Real_Name"}),
        ("carol", {"name": "Carol"}),
    ):
        answer = await api.post("/v1/customers", json=fields)
        assert answer.status_code == 201, answer.text
        customers[name] = answer.json()["id"]
    ids: dict[str, str] = {}
    for name, (customer, channel, team, assignee, priority, status, queue, subject) in CONVERSATIONS.items():
        body: dict[str, Any] = {
            "customer_id": customers[customer],
            "channel": channel,
            "priority": priority,
            "subject": subject,
            "assignee": people[assignee].user_id if assignee else None,
            "attributes": {"queue_id": queue} if queue else {},
        }
        answer = await api.post("/v1/conversations", json=body)
        assert answer.status_code == 201, answer.text
        ids[name] = conversation_id = answer.json()["id"]
        if status != "open":
            changed = await api.patch(f"/v1/conversations/{conversation_id}", json={"status": status})
            assert changed.status_code == 200, changed.text

        def set_teams(
            uow: UnitOfWork, conversation_id: str = conversation_id, team: str | None = team
        ) -> None:
            conversations.set_teams(
                uow,
                tenant_id=tenant.tenant_id,
                conversation_id=conversation_id,
                team_ids=[teams[team]] if team else [],
            )

        await runtime.db.write(set_teams)
    for name, text in (("c3", "I want a refund: 50% off was promised"), ("c4", "I got 500 items")):
        posted = await api.post(
            f"/v1/conversations/{ids[name]}/messages",
            json={"direction": "inbound", "author_kind": "customer", "body": text},
        )
        assert posted.status_code == 201, posted.text
        if name == "c3":
            # The customer's message reopened it: it waits on them again.
            waiting = await api.patch(f"/v1/conversations/{ids[name]}", json={"status": "pending"})
            assert waiting.status_code == 200, waiting.text
    tagged = await api.put(f"/v1/conversations/{ids['c1']}/tags/vip")
    assert tagged.status_code == 200, tagged.text

    browsers: dict[str, httpx.AsyncClient] = {}
    for name, person in people.items():
        browsers[name] = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://cxstack.test"
        )
        await sign_in(browsers[name], person)
    try:
        yield Desk(api, people, browsers, teams, ids)
    finally:
        for browser in browsers.values():
            await browser.aclose()


async def listed(desk: Desk, client: httpx.AsyncClient, **params: Any) -> set[str]:
    return set(desk.names(await client.get("/v1/conversations", params={"limit": 200, **params})))


async def test_each_filter_and_their_combinations_narrow_the_list(desk: Desk) -> None:
    key = desk.key
    agent_a = desk.people["agent_a"].user_id
    assert await listed(desk, key) == set(CONVERSATIONS)
    assert await listed(desk, key, assignee=agent_a) == {"c1", "c5"}
    assert await listed(desk, key, assignee="none") == {"c2", "c3"}
    assert await listed(desk, key, channel=["email", "sms"]) == {"c1", "c2", "c4", "c5", "c6"}
    assert await listed(desk, key, channel="webchat") == {"c3"}
    assert await listed(desk, key, status=["open", "pending"]) == {"c1", "c2", "c3", "c4", "c6"}
    assert await listed(desk, key, status="closed") == {"c5"}
    assert await listed(desk, key, priority=["urgent", "high"]) == {"c1", "c3"}
    assert await listed(desk, key, tag="vip") == {"c1"}
    assert await listed(desk, key, tag="VIP") == {"c1"}
    assert await listed(desk, key, tag="nobody-has-it") == set()
    assert await listed(desk, key, queue_id="q1") == {"c1"}
    assert await listed(desk, key, team=desk.teams["A"]) == {"c1", "c4"}
    assert await listed(desk, key, team="tm_nosuchteam") == set()

    assert await listed(desk, key, channel="email", assignee="none") == set()
    assert await listed(desk, key, status="open", team=desk.teams["B"]) == {"c2", "c6"}
    assert await listed(desk, key, channel=["email", "sms"], status="open", priority="normal") == {
        "c2",
        "c4",
        "c6",
    }
    assert await listed(desk, key, assignee=agent_a, status="open", tag="vip", queue_id="q1") == {"c1"}


async def test_me_none_and_mine_follow_the_signed_in_person_within_what_they_see(desk: Desk) -> None:
    ann, ben = desk.browsers["agent_a"], desk.browsers["agent_b"]
    sue, admin = desk.browsers["supervisor_a"], desk.browsers["admin"]
    # What each sees at all: team A's agent and supervisor the same four; team B's agent five.
    assert await listed(desk, ann) == {"c1", "c3", "c4", "c5"}
    assert await listed(desk, sue) == {"c1", "c3", "c4", "c5"}
    assert await listed(desk, ben) == {"c2", "c3", "c4", "c5", "c6"}

    assert await listed(desk, ann, assignee="me") == {"c1", "c5"}
    assert await listed(desk, ann, assignee="me", status="open") == {"c1"}
    assert await listed(desk, ben, assignee="me") == {"c4", "c6"}
    assert await listed(desk, ann, team="mine") == {"c1", "c4"}
    assert await listed(desk, ben, team="mine") == {"c2", "c5", "c6"}
    assert await listed(desk, ann, assignee="none") == {"c3"}
    assert await listed(desk, ben, assignee="none") == {"c2", "c3"}
    # A filter never shows more than the person sees: team B's work and Ben's, as Ann sees them.
    assert await listed(desk, ann, team=desk.teams["B"]) == {"c5"}
    assert await listed(desk, ann, assignee=desk.people["agent_b"].user_id) == {"c4"}
    assert await listed(desk, sue, assignee="me") == set()
    # An admin in no team: no team's work is theirs.
    assert await listed(desk, admin, team="mine") == set()
    assert await listed(desk, admin, assignee="none") == {"c2", "c3"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"assignee": "me"}, "assignee"),
        ({"team": "mine"}, "team"),
        ({"status": ["open", "archived"]}, "status"),
        ({"channel": "fax"}, "channel"),
        ({"priority": "critical"}, "priority"),
        ({"tag": "not a tag!"}, "tag"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"sort": "name"}, "sort"),
        ({"sort": "updated", "cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
    ],
)
async def test_bad_parameters_answer_422_naming_the_parameter(
    desk: Desk, params: dict[str, Any], field: str
) -> None:
    answer = await desk.key.get("/v1/conversations", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field
    if field in ("assignee", "team"):
        assert "signed-in person" in answer.json()["detail"]


async def test_me_and_mine_need_a_signed_in_person_in_counts_too(desk: Desk) -> None:
    counted = await desk.key.get("/v1/conversations/counts")
    assert counted.status_code == 200, counted.text
    assert counted.json()["mine"] is None and counted.json()["my_teams"] is None


async def test_search_finds_conversations_by_name_email_phone_subject_and_message_text(desk: Desk) -> None:
    key = desk.key
    assert await listed(desk, key, q="lovelace") == {"c1", "c2"}
    assert await listed(desk, key, q="ADA@Example.com") == {"c1", "c2"}
    assert await listed(desk, key, q="(415) 555-2671") == {"c1", "c2"}
    assert await listed(desk, key, q="+14155552671") == {"c1", "c2"}
    assert await listed(desk, key, q="REFUND") == {"c3"}
    assert await listed(desk, key, q="invoice") == {"c1"}
    assert await listed(desk, key, q="nothing like it") == set()
    # The search combines with the filters and with what the person sees.
    assert await listed(desk, key, q="lovelace", channel="sms") == {"c2"}
    assert await listed(desk, desk.browsers["agent_a"], q="lovelace") == {"c1"}
    assert await listed(desk, desk.browsers["agent_a"], q="bob") == {"c3"}


async def test_search_takes_like_wildcards_literally(desk: Desk) -> None:
    key = desk.key
    # "50%" is not "50 then anything": the 500 items of c4 do not match.
    assert await listed(desk, key, q="50%") == {"c3"}
    # "_" is not "any one character": only Bob's name has one.
    assert await listed(desk, key, q="_") == {"c3", "c6"}
    assert await listed(desk, key, q="\\") == set()
    assert await listed(desk, key, q="%") == {"c3"}


async def test_search_follows_what_is_written_renamed_and_changed_later(desk: Desk) -> None:
    key = desk.key
    assert await listed(desk, key, q="parcel") == set()
    posted = await key.post(
        f"/v1/conversations/{desk.ids['c5']}/messages",
        json={"direction": "inbound", "author_kind": "customer", "body": 'My "parcel" never came'},
    )
    assert posted.status_code == 201, posted.text
    assert await listed(desk, key, q="PARCEL") == {"c5"}
    assert await listed(desk, key, q='"parcel" never') == {"c5"}
    # A new subject is found and the old one no longer is.
    assert await listed(desk, key, q="Delivery") == {"c2"}
    changed = await key.patch(f"/v1/conversations/{desk.ids['c2']}", json={"subject": "Lost shipment"})
    assert changed.status_code == 200, changed.text
    assert await listed(desk, key, q="delivery") == set()
    assert await listed(desk, key, q="lost ship") == {"c2"}
    # A renamed customer is found by the new name, with every conversation of theirs.
    customer_id = (await key.get(f"/v1/conversations/{desk.ids['c4']}")).json()["customer_id"]
    renamed = await key.patch(f"/v1/customers/{customer_id}", json={"name": "Caroline Herschel"})
    assert renamed.status_code == 200, renamed.text
    assert await listed(desk, key, q="herschel") == {"c4", "c5"}
    assert await listed(desk, key, q="carol") == {"c4", "c5"}  # still part of "Caroline"
    assert await listed(desk, key, q="Carolx") == set()


async def _pages(client: httpx.AsyncClient, desk: Desk, limit: int, **params: Any) -> list[str]:
    found: list[str] = []
    cursor: str | None = None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        answer = await client.get("/v1/conversations", params=query)
        found += desk.names(answer)
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return found


@pytest.mark.parametrize("sort", ["created", "updated"])
@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_cursor_pages_with_filters_give_the_whole_list_once_in_order(
    desk: Desk, sort: str, order: str
) -> None:
    everything = await desk.key.get("/v1/conversations", params={"limit": 200, "sort": sort, "order": order})
    rows = everything.json()["data"]
    field = "id" if sort == "created" else "updated_at"
    keys = [(row[field], row["id"]) for row in rows]
    assert keys == sorted(keys, reverse=order == "desc")
    if sort == "updated":
        # c3 and c4 were written to last (their messages): the order is not the creation order.
        assert desk.names(everything)[-2:] == (["c3", "c4"] if order == "asc" else ["c1", "c2"][::-1])
    for params in ({}, {"channel": ["email", "sms"]}, {"status": "open", "assignee": "none"}):
        whole = await _pages(desk.key, desk, 200, sort=sort, order=order, **params)
        for limit in (1, 2, 3):
            assert await _pages(desk.key, desk, limit, sort=sort, order=order, **params) == whole
    ann = desk.browsers["agent_a"]
    whole = await _pages(ann, desk, 200, sort=sort, order=order)
    assert set(whole) == {"c1", "c3", "c4", "c5"}
    assert await _pages(ann, desk, 1, sort=sort, order=order) == whole


async def test_counts_are_of_the_open_conversations_each_caller_sees(desk: Desk) -> None:
    async def counts(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
        answer = await client.get("/v1/conversations/counts", params=params)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    # Ann sees c1 (hers, team A), c3 (pending, nobody's, no team), c4 (Ben's, team A); c5 is closed.
    assert await counts(desk.browsers["agent_a"]) == {
        "all_open": 3,
        "unassigned": 1,
        "mine": 1,
        "my_teams": 2,
        "by_status": {"open": 2, "pending": 1},
    }
    assert await counts(desk.browsers["supervisor_a"]) == {
        "all_open": 3,
        "unassigned": 1,
        "mine": 0,
        "my_teams": 2,
        "by_status": {"open": 2, "pending": 1},
    }
    assert await counts(desk.browsers["agent_b"]) == {
        "all_open": 4,
        "unassigned": 2,
        "mine": 2,
        "my_teams": 2,
        "by_status": {"open": 3, "pending": 1},
    }
    assert await counts(desk.browsers["admin"]) == {
        "all_open": 5,
        "unassigned": 2,
        "mine": 0,
        "my_teams": 0,
        "by_status": {"open": 4, "pending": 1},
    }
    assert await counts(desk.key) == {
        "all_open": 5,
        "unassigned": 2,
        "mine": None,
        "my_teams": None,
        "by_status": {"open": 4, "pending": 1},
    }
    # The filters narrow every count.
    assert await counts(desk.key, channel="email") == {
        "all_open": 3,
        "unassigned": 0,
        "mine": None,
        "my_teams": None,
        "by_status": {"open": 3, "pending": 0},
    }
    assert (await counts(desk.browsers["agent_a"], q="lovelace"))["all_open"] == 1
    assert (await counts(desk.key, tag="vip", queue_id="q1", priority="high"))["all_open"] == 1
    bad = await desk.key.get("/v1/conversations/counts", params={"channel": "fax"})
    assert bad.status_code == 422 and bad.json()["field"] == "channel"


async def test_another_tenants_conversations_change_no_count_and_no_list(
    desk: Desk, client: httpx.AsyncClient, other_tenant: TenantKey
) -> None:
    before = (await desk.key.get("/v1/conversations/counts")).json()
    theirs = {"headers": other_tenant.headers}
    customer = await client.post("/v1/customers", json={"name": "Ada Lovelace"}, **theirs)
    assert customer.status_code == 201, customer.text
    for channel in ("email", "sms"):
        started = await client.post(
            "/v1/conversations", json={"customer_id": customer.json()["id"], "channel": channel}, **theirs
        )
        assert started.status_code == 201, started.text
    assert (await desk.key.get("/v1/conversations/counts")).json() == before
    assert (await client.get("/v1/conversations/counts", **theirs)).json()["all_open"] == 2
    assert await listed(desk, desk.key, q="lovelace") == {"c1", "c2"}
    assert await listed(desk, desk.browsers["admin"], assignee="none") == {"c2", "c3"}
