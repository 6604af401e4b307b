"""Saved inbox views: a person's named filters of the conversation list, kept in their order or shared
with one of their teams; filters are checked against the list's parameters, and another person's view
is as unknown as none."""

from __future__ import annotations

from typing import Any

import httpx
from tests.governance.staff.people import problem_of
from tests.workspace.conftest import Desk


async def _view(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    answer = await client.post("/v1/views", json=fields)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


async def _names(client: httpx.AsyncClient) -> list[str]:
    answer = await client.get("/v1/views")
    assert answer.status_code == 200, answer.text
    return [view["name"] for view in answer.json()["data"]]


async def test_a_person_keeps_views_in_order_and_shares_them_with_a_team(desk: Desk) -> None:
    ann, abe, bob = desk.browsers["agent_a"], desk.browsers["agent_a2"], desk.browsers["agent_b"]
    urgent = await _view(ann, name="Urgent email", filters={"channel": "email", "priority": "urgent"})
    assert urgent["owner_id"] == desk.user_ids["agent_a"]
    assert (urgent["position"], urgent["team_id"]) == (0, None)
    mine = await _view(ann, name="Mine", filters={"assignee": desk.user_ids["agent_a"], "status": "open"})
    assert mine["position"] == 1
    await _view(ann, name="First", filters={}, position=0)
    shared = await _view(
        ann,
        name="Team A refunds",
        filters={"tag": "refund", "team": desk.teams["A"]},
        team_id=desk.teams["A"],
    )
    await _view(abe, name="Abe's own", filters={"queue_id": "que_1"})

    assert await _names(ann) == ["First", "Urgent email", "Mine", "Team A refunds"]
    # A teammate sees the shared one after their own; another team sees none of them.
    assert await _names(abe) == ["Abe's own", "Team A refunds"]
    assert await _names(bob) == []
    seen = await abe.get(f"/v1/views/{shared['id']}")
    assert seen.status_code == 200 and seen.json()["filters"] == {"tag": "refund", "team": desk.teams["A"]}

    # Only its owner changes it: a teammate is refused, anyone else finds nothing.
    refused = await abe.patch(f"/v1/views/{shared['id']}", json={"name": "Abe's now"})
    assert refused.status_code == 403
    assert problem_of(refused)["code"] == "not_the_owner"
    for client, view in ((bob, shared), (bob, urgent), (abe, urgent), (desk.browsers["admin"], urgent)):
        for answer in (
            await client.get(f"/v1/views/{view['id']}"),
            await client.patch(f"/v1/views/{view['id']}", json={"name": "x"}),
            await client.delete(f"/v1/views/{view['id']}"),
        ):
            assert answer.status_code == 404, answer.request.url
            assert problem_of(answer)["field"] == "view_id"

    changed = await ann.patch(
        f"/v1/views/{urgent['id']}", json={"name": "Urgent", "position": 5, "filters": {"priority": "high"}}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["filters"]) == ("Urgent", {"priority": "high"})
    unshared = await ann.patch(f"/v1/views/{shared['id']}", json={"team_id": None})
    assert unshared.status_code == 200 and unshared.json()["team_id"] is None
    assert await _names(abe) == ["Abe's own"]
    assert (await ann.delete(f"/v1/views/{mine['id']}")).status_code == 204
    assert await _names(ann) == ["First", "Team A refunds", "Urgent"]


async def test_filters_and_teams_are_checked_and_nothing_is_written_when_refused(desk: Desk) -> None:
    ann = desk.browsers["agent_a"]
    for filters, field in (
        ({"colour": "red"}, "filters.colour"),
        ({"channel": "fax"}, "filters.channel"),
        ({"status": ["open", "pending"]}, "filters.status"),
        ({"priority": 3}, "filters.priority"),
        ({"tag": "  "}, "filters.tag"),
        ({"assignee": None}, "filters.assignee"),
        ({"queue_id": "q" * 201}, "filters.queue_id"),
    ):
        answer = await ann.post("/v1/views", json={"name": "Bad", "filters": filters})
        assert answer.status_code == 422, filters
        problem = problem_of(answer)
        assert problem["field"] == field, problem
    unknown = await ann.post("/v1/views", json={"name": "Bad", "filters": {"colour": "red"}})
    assert "colour" in problem_of(unknown)["detail"] and "channel" in problem_of(unknown)["detail"]

    not_mine = await ann.post("/v1/views", json={"name": "B", "team_id": desk.teams["B"]})
    assert not_mine.status_code == 422 and problem_of(not_mine)["field"] == "team_id"
    no_team = await ann.post("/v1/views", json={"name": "B", "team_id": "team_nope"})
    assert no_team.status_code == 404 and problem_of(no_team)["field"] == "team_id"
    assert (await ann.post("/v1/views", json={"name": "", "filters": {}})).status_code == 422
    assert (await ann.post("/v1/views", json={"name": "x", "position": -1})).status_code == 422
    assert await _names(ann) == []

    # An admin shares with any team.
    admins = await _view(desk.browsers["admin"], name="For B", team_id=desk.teams["B"])
    assert await _names(desk.browsers["agent_b"]) == ["For B"]
    view = await _view(ann, name="Kept", filters={"status": "open"})
    bad = await ann.patch(f"/v1/views/{view['id']}", json={"name": "Changed", "filters": {"sla": "at_risk"}})
    assert bad.status_code == 422 and problem_of(bad)["field"] == "filters.sla"
    cleared = await ann.patch(f"/v1/views/{view['id']}", json={"name": None})
    assert cleared.status_code == 422 and problem_of(cleared)["field"] == "name"
    kept = (await ann.get(f"/v1/views/{view['id']}")).json()
    assert (kept["name"], kept["filters"]) == ("Kept", {"status": "open"})
    assert admins["owner_id"] == desk.user_ids["admin"]


async def test_views_belong_to_people_and_a_key_is_refused(desk: Desk) -> None:
    view = await _view(desk.browsers["agent_a"], name="Mine")
    for answer in (
        await desk.api.get("/v1/views"),
        await desk.api.post("/v1/views", json={"name": "Key's"}),
        await desk.api.get(f"/v1/views/{view['id']}"),
        await desk.api.delete(f"/v1/views/{view['id']}"),
    ):
        assert answer.status_code == 403
        problem = problem_of(answer)
        assert problem["code"] == "people_only"
        assert "sign in" in problem["detail"]
    # Without credentials at all: 401, as everywhere.
    anonymous = httpx.AsyncClient(transport=desk.api._transport, base_url=str(desk.api.base_url))
    async with anonymous:
        assert (await anonymous.get("/v1/views")).status_code == 401
    assert await _names(desk.browsers["agent_a"]) == ["Mine"]
