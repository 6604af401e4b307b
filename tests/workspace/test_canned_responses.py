"""Canned responses: supervisors and admins keep them, agents see the shared ones and their teams', and
rendering fills a body's variables from the conversation, its customer and the signed-in person."""

from __future__ import annotations

from typing import Any

import httpx
from tests.governance.staff.people import problem_of
from tests.workspace.conftest import Desk

REFUND = {
    "name": "Refund policy",
    "shortcut": "refund-policy",
    "body": "Hi {{customer.first_name}}, refunds take 5 days ({{conversation.id}}). {{agent.name}}",
}


async def _create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    answer = await client.post("/v1/canned-responses", json={**REFUND, **fields})
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def test_supervisors_and_admins_keep_canned_responses_and_agents_may_not(desk: Desk) -> None:
    browsers = desk.browsers
    made = await _create(browsers["supervisor"], team_ids=[desk.teams["A"]])
    assert made["shortcut"] == "refund-policy"
    assert made["team_ids"] == [desk.teams["A"]]
    assert made["created_by"] == f"user:{desk.user_ids['supervisor']}"

    refused = await browsers["agent_a"].post(
        "/v1/canned-responses", json={**REFUND, "shortcut": "agent-made"}
    )
    assert refused.status_code == 403
    assert problem_of(refused)["code"] == "missing_role"
    for attempt in (
        browsers["agent_a"].patch(f"/v1/canned-responses/{made['id']}", json={"name": "Mine now"}),
        browsers["agent_a"].delete(f"/v1/canned-responses/{made['id']}"),
    ):
        assert (await attempt).status_code == 403

    changed = await browsers["admin"].patch(
        f"/v1/canned-responses/{made['id']}", json={"name": "Refunds", "shortcut": "refunds"}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["shortcut"]) == ("Refunds", "refunds")
    assert (await browsers["admin"].delete(f"/v1/canned-responses/{made['id']}")).status_code == 204
    assert (await desk.api.get(f"/v1/canned-responses/{made['id']}")).status_code == 404

    audit = await desk.api.get("/v1/audit", params={"subject": made["id"]})
    assert audit.status_code == 200, audit.text
    assert [(e["action"], e["actor"]) for e in audit.json()["data"]] == [
        ("canned_response.deleted", f"user:{desk.user_ids['admin']}"),
        ("canned_response.updated", f"user:{desk.user_ids['admin']}"),
        ("canned_response.created", f"user:{desk.user_ids['supervisor']}"),
    ]


async def test_agents_see_shared_canned_responses_and_their_teams_only(desk: Desk) -> None:
    shared = await _create(desk.api, name="Greeting", shortcut="greeting", body="Hello!")
    team_a = await _create(desk.api, shortcut="refund-a", team_ids=[desk.teams["A"]])
    team_b = await _create(desk.api, name="Billing refund", shortcut="refund-b", team_ids=[desk.teams["B"]])

    async def listed(client: httpx.AsyncClient, **params: str) -> list[str]:
        answer = await client.get("/v1/canned-responses", params=params)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["data"]]

    everyone = [shared["id"], team_a["id"], team_b["id"]]
    assert await listed(desk.browsers["agent_a"]) == [shared["id"], team_a["id"]]
    assert await listed(desk.browsers["agent_b"]) == [shared["id"], team_b["id"]]
    assert await listed(desk.browsers["supervisor"]) == everyone
    assert await listed(desk.api) == everyone
    # Search on name or shortcut, in any case, within what the caller sees.
    assert await listed(desk.api, q="REFUND") == [team_a["id"], team_b["id"]]
    assert await listed(desk.api, q="billing") == [team_b["id"]]
    assert await listed(desk.browsers["agent_a"], q="refund") == [team_a["id"]]
    assert await listed(desk.api, q="100%") == []

    hidden = await desk.browsers["agent_a"].get(f"/v1/canned-responses/{team_b['id']}")
    assert hidden.status_code == 404
    assert problem_of(hidden)["field"] == "canned_response_id"
    rendered = await desk.browsers["agent_a"].post(
        f"/v1/canned-responses/{team_b['id']}/render", json={"conversation_id": desk.conversations["a"]}
    )
    assert rendered.status_code == 404
    seen = await desk.browsers["agent_b"].get(f"/v1/canned-responses/{team_b['id']}")
    assert seen.status_code == 200 and seen.json()["name"] == "Billing refund"


async def test_unknown_variables_bad_shortcuts_and_taken_shortcuts_are_refused_and_nothing_is_written(
    desk: Desk,
) -> None:
    bad = await desk.api.post(
        "/v1/canned-responses", json={**REFUND, "body": "Hi {{customer.name}}, your {{ order.total }}"}
    )
    assert bad.status_code == 422
    problem = problem_of(bad)
    assert (problem["field"], problem["variable"]) == ("body", "order.total")
    assert "{{order.total}}" in problem["detail"] and "{{customer.first_name}}" in problem["detail"]

    for shortcut in ("Refund Policy", "refund--policy", "-refund", ""):
        answer = await desk.api.post("/v1/canned-responses", json={**REFUND, "shortcut": shortcut})
        assert answer.status_code == 422, shortcut
        assert problem_of(answer)["field"] == "shortcut"
    unknown_team = await desk.api.post("/v1/canned-responses", json={**REFUND, "team_ids": ["team_nope"]})
    assert unknown_team.status_code == 404
    assert problem_of(unknown_team)["field"] == "team_ids[0]"
    assert (await desk.api.get("/v1/canned-responses")).json()["data"] == []

    made = await _create(desk.api)
    taken = await desk.api.post("/v1/canned-responses", json={**REFUND, "name": "Again"})
    assert taken.status_code == 409
    assert problem_of(taken)["field"] == "shortcut"
    other = await _create(desk.api, shortcut="other")
    assert (
        await desk.api.patch(f"/v1/canned-responses/{other['id']}", json={"shortcut": "refund-policy"})
    ).status_code == 409
    changed = await desk.api.patch(
        f"/v1/canned-responses/{made['id']}", json={"name": "Changed", "body": "{{agent.surname}}"}
    )
    assert changed.status_code == 422
    assert problem_of(changed)["variable"] == "agent.surname"
    kept = await desk.api.get(f"/v1/canned-responses/{made['id']}")
    assert (kept.json()["name"], kept.json()["body"]) == (REFUND["name"], REFUND["body"])
    cleared = await desk.api.patch(f"/v1/canned-responses/{made['id']}", json={"body": None})
    assert cleared.status_code == 422 and problem_of(cleared)["field"] == "body"


async def test_rendering_fills_variables_and_lists_those_without_a_value(desk: Desk) -> None:
    made = await _create(
        desk.api,
        body=(
            "Hi {{customer.first_name}} ({{customer.name}}, {{ customer.email }}): about "
            "{{conversation.subject}} [{{conversation.id}}]. {{agent.name}}"
        ),
    )
    conversation_id = desk.conversations["a"]
    by_agent = await desk.browsers["agent_a"].post(
        f"/v1/canned-responses/{made['id']}/render", json={"conversation_id": conversation_id}
    )
    assert by_agent.status_code == 200, by_agent.text
    assert by_agent.json() == {
        "canned_response_id": made["id"],
        "conversation_id": conversation_id,
        "body": (f"Hi Carol (Carol Jones, carol@example.com): about Refund a [{conversation_id}]. Ann"),
        "missing": [],
    }
    # A key is nobody: the agent's name is empty, and said to be missing.
    by_key = await desk.api.post(
        f"/v1/canned-responses/{made['id']}/render", json={"conversation_id": conversation_id}
    )
    assert by_key.status_code == 200, by_key.text
    assert by_key.json()["body"].endswith(f"[{conversation_id}]. ")
    assert by_key.json()["missing"] == ["agent.name"]

    # A customer without a name or email, a conversation without a subject.
    customer = await desk.api.post("/v1/customers", json={"phone": "+14155550100"})
    assert customer.status_code == 201, customer.text
    bare = await desk.api.post(
        "/v1/conversations", json={"customer_id": customer.json()["id"], "channel": "sms"}
    )
    assert bare.status_code == 201, bare.text
    empty = await desk.browsers["admin"].post(
        f"/v1/canned-responses/{made['id']}/render", json={"conversation_id": bare.json()["id"]}
    )
    assert empty.status_code == 200, empty.text
    assert empty.json()["body"] == f"Hi  (, ): about  [{bare.json()['id']}]. Ada"
    assert empty.json()["missing"] == [
        "customer.first_name",
        "customer.name",
        "customer.email",
        "conversation.subject",
    ]

    # A conversation out of the agent's sight is as unknown as one that does not exist.
    for conversation in (desk.conversations["b"], "cnv_nope"):
        hidden = await desk.browsers["agent_a"].post(
            f"/v1/canned-responses/{made['id']}/render", json={"conversation_id": conversation}
        )
        assert hidden.status_code == 404
        assert problem_of(hidden)["field"] == "conversation_id"
