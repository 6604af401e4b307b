"""``/v1/sla/calendars`` and ``/v1/sla/policies``: storing, changing, matching, and refusing bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.conftest import TenantKey
from tests.governance.keys import bearer, new_tenant_key

from cxstack.routing.sla.service import match_policy
from cxstack.runtime import Runtime

PROBLEM = "application/problem+json"
OFFICE = {
    "name": "Berlin office",
    "timezone": "Europe/Berlin",
    "hours": {day: [{"start": "09:00", "end": "17:00"}] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": [{"date": "2026-12-25", "name": "Christmas"}],
}


def problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    if field is not None:
        assert body["field"] == field, body
    return body


async def new_calendar(api: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await api.post("/v1/sla/calendars", json={**OFFICE, **changes})
    assert response.status_code == 201, response.text
    calendar: dict[str, Any] = response.json()
    return calendar


async def new_policy(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await api.post(
        "/v1/sla/policies", json={"name": "Default", "first_response_seconds": 3600, **fields}
    )
    assert response.status_code == 201, response.text
    policy: dict[str, Any] = response.json()
    return policy


async def count(api: httpx.AsyncClient, collection: str) -> int:
    response = await api.get(f"/v1/sla/{collection}")
    assert response.status_code == 200, response.text
    return len(response.json()["data"])


async def test_a_calendar_is_created_listed_read_changed_and_deleted(api: httpx.AsyncClient) -> None:
    calendar = await new_calendar(
        api,
        hours={
            "mon": [{"start": "22:00", "end": "06:00", "overnight": True}],
            "tue": [{"start": "09:00", "end": "17:00"}],
        },
    )
    assert calendar["timezone"] == "Europe/Berlin"
    assert calendar["hours"] == {
        "mon": [{"start": "22:00", "end": "06:00", "overnight": True}],
        "tue": [{"start": "09:00", "end": "17:00", "overnight": False}],
    }
    assert calendar["holidays"] == [{"date": "2026-12-25", "name": "Christmas"}]

    assert (await api.get(f"/v1/sla/calendars/{calendar['id']}")).json() == calendar
    listed = (await api.get("/v1/sla/calendars")).json()
    assert [c["id"] for c in listed["data"]] == [calendar["id"]]

    changed = await api.patch(
        f"/v1/sla/calendars/{calendar['id']}", json={"timezone": "Asia/Tokyo", "holidays": []}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["timezone"], changed.json()["holidays"]) == ("Asia/Tokyo", [])
    assert changed.json()["hours"] == calendar["hours"]

    assert (await api.delete(f"/v1/sla/calendars/{calendar['id']}")).status_code == 204
    problem(await api.get(f"/v1/sla/calendars/{calendar['id']}"), 404)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"hours": {}}, "hours"),
        ({"hours": {"mon": []}}, "hours"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"hours": {"mon": [{"start": "17:00", "end": "09:00"}]}}, "hours.mon[0].end"),
        (
            {"hours": {"mon": [{"start": "09:00", "end": "13:00"}, {"start": "12:00", "end": "18:00"}]}},
            "hours.mon",
        ),
        ({"hours": {"someday": [{"start": "09:00", "end": "17:00"}]}}, "hours.someday"),
        ({"hours": {"mon": [{"start": "9", "end": "17:00"}]}}, "hours.mon[0].start"),
        ({"holidays": [{"date": "not-a-date"}]}, "holidays[0].date"),
    ],
)
async def test_a_bad_calendar_is_refused_naming_the_field_and_nothing_is_stored(
    api: httpx.AsyncClient, changes: dict[str, Any], field: str
) -> None:
    body = problem(await api.post("/v1/sla/calendars", json={**OFFICE, **changes}), 422, field)
    assert body["code"] == "validation_failed"
    assert await count(api, "calendars") == 0


async def test_a_bad_change_leaves_the_calendar_as_it_was(api: httpx.AsyncClient) -> None:
    calendar = await new_calendar(api)
    problem(await api.patch(f"/v1/sla/calendars/{calendar['id']}", json={"hours": {}}), 422, "hours")
    assert (await api.get(f"/v1/sla/calendars/{calendar['id']}")).json() == calendar


async def test_a_policy_is_created_listed_changed_and_deleted(api: httpx.AsyncClient) -> None:
    calendar = await new_calendar(api)
    policy = await new_policy(
        api,
        name="Gold email",
        channel="email",
        customer_tier="gold",
        calendar_id=calendar["id"],
        next_response_seconds=7200,
        resolution_seconds=86_400,
        warn_before_seconds=600,
    )
    assert {k: policy[k] for k in ("channel", "customer_tier", "priority", "queue_id", "calendar_id")} == {
        "channel": "email",
        "customer_tier": "gold",
        "priority": None,
        "queue_id": None,
        "calendar_id": calendar["id"],
    }
    assert (await api.get(f"/v1/sla/policies/{policy['id']}")).json() == policy
    assert [p["id"] for p in (await api.get("/v1/sla/policies")).json()["data"]] == [policy["id"]]

    changed = await api.patch(
        f"/v1/sla/policies/{policy['id']}", json={"calendar_id": None, "priority": "urgent"}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["calendar_id"], changed.json()["priority"]) == (None, "urgent")
    assert changed.json()["first_response_seconds"] == 3600

    assert (await api.delete(f"/v1/sla/policies/{policy['id']}")).status_code == 204
    assert await count(api, "policies") == 0


@pytest.mark.parametrize(
    ("fields", "status", "field"),
    [
        ({"calendar_id": "cal_01J00000000000000000000000"}, 404, "calendar_id"),
        ({"first_response_seconds": -60}, 422, "first_response_seconds"),
        ({"first_response_seconds": 0}, 422, "first_response_seconds"),
        ({"channel": "pigeon"}, 422, "channel"),
        ({"priority": "whenever"}, 422, "priority"),
        ({"first_response_seconds": None}, 422, "first_response_seconds"),
        ({"warn_before_seconds": 3600}, 422, "warn_before_seconds"),
    ],
)
async def test_a_bad_policy_is_refused_with_a_problem_naming_the_field_and_nothing_is_stored(
    api: httpx.AsyncClient, fields: dict[str, Any], status: int, field: str
) -> None:
    response = await api.post(
        "/v1/sla/policies", json={"name": "Bad", "first_response_seconds": 3600, **fields}
    )
    problem(response, status, field)
    assert await count(api, "policies") == 0


async def test_a_target_longer_than_the_calendar_has_hours_for_is_refused(api: httpx.AsyncClient) -> None:
    sparse = await new_calendar(api, hours={"mon": [{"start": "09:00", "end": "09:01"}]})
    response = await api.post(
        "/v1/sla/policies",
        json={"name": "Slow", "calendar_id": sparse["id"], "resolution_seconds": 366 * 86_400},
    )
    problem(response, 422, "resolution_seconds")
    assert await count(api, "policies") == 0


async def test_two_policies_with_the_same_conditions_conflict(api: httpx.AsyncClient) -> None:
    await new_policy(api, channel="sms")
    response = await api.post(
        "/v1/sla/policies", json={"name": "Again", "channel": "sms", "resolution_seconds": 60}
    )
    problem(response, 409, "channel")
    assert await count(api, "policies") == 1


async def test_a_calendar_in_use_cannot_be_deleted(api: httpx.AsyncClient) -> None:
    calendar = await new_calendar(api)
    policy = await new_policy(api, calendar_id=calendar["id"])
    body = problem(await api.delete(f"/v1/sla/calendars/{calendar['id']}"), 409)
    assert policy["id"] in body["detail"]
    assert await count(api, "calendars") == 1


async def test_changing_calendars_and_policies_needs_the_admin_scope(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    writer = bearer(await new_tenant_key(runtime, tenant.tenant_id, scopes=["read", "write"]))
    problem(await api.post("/v1/sla/calendars", json=OFFICE, headers=writer), 403)
    problem(
        await api.post("/v1/sla/policies", json={"name": "P", "resolution_seconds": 60}, headers=writer), 403
    )
    assert (await api.get("/v1/sla/policies", headers=writer)).status_code == 200
    assert await count(api, "calendars") == 0


async def test_another_tenants_calendar_cannot_be_used_or_seen(
    api: httpx.AsyncClient, client: httpx.AsyncClient, other_tenant: TenantKey
) -> None:
    calendar = await new_calendar(api)
    theirs = await client.post(
        "/v1/sla/policies",
        json={"name": "P", "resolution_seconds": 60, "calendar_id": calendar["id"]},
        headers=other_tenant.headers,
    )
    problem(theirs, 404, "calendar_id")
    problem(await client.get(f"/v1/sla/calendars/{calendar['id']}", headers=other_tenant.headers), 404)


async def test_the_most_specific_policy_wins(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    default = await new_policy(api, name="Default")
    email = await new_policy(api, name="Email", channel="email")
    urgent = await new_policy(api, name="Urgent", priority="urgent")
    gold_email = await new_policy(api, name="Gold email", channel="email", customer_tier="gold")
    queue = await new_policy(api, name="Billing queue", queue_id="billing")

    async def matched(**facts: str | None) -> str | None:
        found = await runtime.db.read(
            lambda session: match_policy(session, tenant_id=tenant.tenant_id, facts=facts)
        )
        return found.id if found is not None else None

    assert await matched(channel="sms", priority="normal") == default["id"]
    assert await matched(channel="email", priority="normal") == email["id"]
    assert await matched(channel="email", priority="normal", customer_tier="gold") == gold_email["id"]
    # As many conditions each: the priority is more telling than the channel, the queue more than either.
    assert await matched(channel="email", priority="urgent") == urgent["id"]
    assert await matched(channel="sms", priority="urgent", queue_id="billing") == queue["id"]
