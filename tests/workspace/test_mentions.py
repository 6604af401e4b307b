"""Mentions: an internal note on a conversation naming people with ``@`` notifies those of the tenant who
see the conversation (never an unknown handle, a disabled account, the author, or someone out of the
conversation's teams); each person lists their own mentions, newest first, and marks them read."""

from __future__ import annotations

from typing import Any

import httpx
from tests.channels.support import events_of
from tests.conftest import TenantKey
from tests.governance.staff.people import make_person, problem_of, sign_in
from tests.workspace.conftest import BASE_URL, Desk

from cxstack.runtime import Runtime
from cxstack.web.app import create_app


async def _note(client: httpx.AsyncClient, conversation_id: str, body: str) -> dict[str, Any]:
    answer = await client.post(
        "/v1/notes", json={"target_type": "conversation", "target_id": conversation_id, "body": body}
    )
    assert answer.status_code == 201, answer.text
    note: dict[str, Any] = answer.json()
    return note


async def _mentions(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    answer = await client.get("/v1/mentions", params=params)
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


async def _settle(runtime: Runtime) -> None:
    assert runtime.bus is not None
    await runtime.bus.drain()


def _composed(desk: Desk) -> str:
    return (
        f"@[Abe](usr_{'0' * 26}) is not Abe; @[Abe](" + desk.user_ids["agent_a2"] + ") and "
        "@sue@acme.example, please look. Also @bob@acme.example, @nobody@acme.example, "
        "@ann@acme.example (me) and mail to ada@acme.example."
    )


async def test_a_note_mentions_the_people_who_see_the_conversation_and_no_one_else(desk: Desk) -> None:
    ids = desk.user_ids
    conversation_id = desk.conversations["a"]
    body = _composed(desk)

    # The composer asks first: who would this notify, and who not and why.
    check = await desk.browsers["agent_a"].post(
        "/v1/mentions/check", json={"conversation_id": conversation_id, "body": body}
    )
    assert check.status_code == 200, check.text
    assert check.json() == {
        "mentioned": [
            {"handle": f"@[Abe]({ids['agent_a2']})", "user_id": ids["agent_a2"], "name": "Abe"},
            {"handle": "@sue@acme.example", "user_id": ids["supervisor"], "name": "Sue"},
        ],
        "not_notified": [
            {"handle": f"@[Abe](usr_{'0' * 26})", "reason": "unknown"},
            {"handle": "@bob@acme.example", "reason": "not_in_sight"},
            {"handle": "@nobody@acme.example", "reason": "unknown"},
            {"handle": "@ann@acme.example", "reason": "author"},
        ],
    }

    note = await _note(desk.browsers["agent_a"], conversation_id, body)
    await _settle(desk.runtime)

    for key in ("agent_a2", "supervisor"):
        [mention] = await _mentions(desk.browsers[key])
        assert mention["user_id"] == ids[key]
        assert mention["conversation_id"] == conversation_id
        assert mention["note_id"] == note["id"]
        assert mention["author"] == f"user:{ids['agent_a']}"
        assert mention["excerpt"].startswith("@Abe is not Abe; @Abe and @sue@acme.example, please look.")
        assert mention["read_at"] is None
    for key in ("agent_b", "agent_a", "admin"):
        assert await _mentions(desk.browsers[key]) == [], key

    events = await events_of(desk.runtime, "mention.created")
    assert sorted((e.data["user_id"], e.subject) for e in events) == sorted(
        [(ids["agent_a2"], conversation_id), (ids["supervisor"], conversation_id)]
    )
    assert {e.data["note_id"] for e in events} == {note["id"]}
    assert {e.data["author"] for e in events} == {f"user:{ids['agent_a']}"}


async def test_the_admin_sees_every_conversation_and_a_conversation_of_no_team_is_everyones(
    desk: Desk,
) -> None:
    await _note(desk.api, desk.conversations["b"], "@ada@acme.example @ann@acme.example see this")
    await _note(desk.api, desk.conversations["open"], "@ANN@acme.example and @bob@acme.example: yours")
    await _note(desk.api, desk.conversations["b"], "@bob@acme.example ok")
    # A note on a customer mentions nobody.
    customer_note = await desk.api.post(
        "/v1/notes",
        json={"target_type": "customer", "target_id": desk.customer_id, "body": "@ann@acme.example"},
    )
    assert customer_note.status_code == 201, customer_note.text
    await _settle(desk.runtime)

    assert [m["conversation_id"] for m in await _mentions(desk.browsers["admin"])] == [
        desk.conversations["b"]
    ]
    assert [m["conversation_id"] for m in await _mentions(desk.browsers["agent_a"])] == [
        desk.conversations["open"]
    ]
    # Newest first.
    assert [m["conversation_id"] for m in await _mentions(desk.browsers["agent_b"])] == [
        desk.conversations["b"],
        desk.conversations["open"],
    ]
    # A key's note names its key as author.
    [mention] = await _mentions(desk.browsers["agent_a"])
    assert mention["author"].startswith("api_key:")

    # A disabled account is notified of nothing.
    disabled = await desk.api.post(f"/v1/users/{desk.user_ids['agent_a2']}/disable")
    assert disabled.status_code == 200, disabled.text
    check = await desk.api.post(
        "/v1/mentions/check", json={"conversation_id": desk.conversations["a"], "body": "@abe@acme.example"}
    )
    assert check.json() == {
        "mentioned": [],
        "not_notified": [{"handle": "@abe@acme.example", "reason": "disabled"}],
    }
    await _note(desk.api, desk.conversations["a"], "@abe@acme.example")
    await _settle(desk.runtime)
    assert len(await events_of(desk.runtime, "mention.created")) == 4  # as before the note


async def test_mentions_are_marked_read_by_their_person_only_and_go_with_their_note(desk: Desk) -> None:
    abe = desk.browsers["agent_a2"]
    first = await _note(desk.browsers["agent_a"], desk.conversations["a"], "@abe@acme.example first")
    second = await _note(desk.browsers["agent_a"], desk.conversations["open"], "@abe@acme.example second")
    await _settle(desk.runtime)
    newer, older = await _mentions(abe)
    assert (newer["note_id"], older["note_id"]) == (second["id"], first["id"])

    read = await abe.post(f"/v1/mentions/{older['id']}/read")
    assert read.status_code == 200, read.text
    read_at = read.json()["read_at"]
    assert read_at is not None
    again = await abe.post(f"/v1/mentions/{older['id']}/read")
    assert again.json()["read_at"] == read_at
    assert [m["id"] for m in await _mentions(abe, unread="true")] == [newer["id"]]
    assert [m["id"] for m in await _mentions(abe, unread="false")] == [older["id"]]
    assert len(await _mentions(abe, limit="1")) == 1

    # Someone else's mention is as unknown as none.
    for client in (desk.browsers["agent_a"], desk.browsers["admin"]):
        other = await client.post(f"/v1/mentions/{newer['id']}/read")
        assert other.status_code == 404
        assert problem_of(other)["field"] == "mention_id"
    # Mentions belong to people: a key has none.
    for answer in (
        await desk.api.get("/v1/mentions"),
        await desk.api.post(f"/v1/mentions/{newer['id']}/read"),
    ):
        assert answer.status_code == 403
        assert problem_of(answer)["code"] == "people_only"
    assert (await abe.get("/v1/mentions", params={"unread": "maybe"})).status_code == 422

    # A deleted note takes its mentions with it.
    assert (await desk.api.delete(f"/v1/notes/{second['id']}")).status_code == 204
    await _settle(desk.runtime)
    assert [m["id"] for m in await _mentions(abe)] == [older["id"]]


async def test_another_tenants_people_neither_see_nor_mark_a_tenants_mentions(
    desk: Desk, runtime: Runtime, other_tenant: TenantKey
) -> None:
    await _note(desk.api, desk.conversations["a"], "@abe@acme.example look")
    await _settle(desk.runtime)
    [mention] = await _mentions(desk.browsers["agent_a2"])
    # Globex has an Abe too, with the same address.
    abe = await make_person(runtime, other_tenant.tenant_id, "abe@acme.example", "admin", "globex abe 12345")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime, manage_runtime=False)), base_url=BASE_URL
    ) as browser:
        browser.headers["X-CSRF-Token"] = await sign_in(browser, abe, tenant="globex")
        assert await _mentions(browser) == []
        assert (await browser.post(f"/v1/mentions/{mention['id']}/read")).status_code == 404
        check = await browser.post(
            "/v1/mentions/check",
            json={"conversation_id": desk.conversations["a"], "body": "@abe@acme.example"},
        )
        assert check.status_code == 404
        assert problem_of(check)["field"] == "conversation_id"
    [still] = await _mentions(desk.browsers["agent_a2"])
    assert still["read_at"] is None
