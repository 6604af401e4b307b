"""``/v1/users`` and ``/v1/teams``: admins manage people and teams, supervisors may list them, agents may
not; refused input changes nothing; a signed-in person's changes name them in the audit log and events."""

from __future__ import annotations

from typing import Any

import httpx
from tests.conftest import TenantKey
from tests.governance.keys import new_tenant_key
from tests.governance.staff.people import AGENT_PASSWORD, Person, make_person, problem_of, sign_in

from cxstack.runtime import Runtime


async def _team(client: httpx.AsyncClient, name: str, csrf: str | None = None) -> dict[str, Any]:
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    answer = await client.post("/v1/teams", json={"name": name}, headers=headers)
    assert answer.status_code == 201, answer.text
    team: dict[str, Any] = answer.json()
    return team


async def test_an_admin_creates_lists_changes_and_disables_users_and_teams(
    browser: httpx.AsyncClient, admin: Person
) -> None:
    csrf = await sign_in(browser, admin)
    write = {"X-CSRF-Token": csrf}
    support = await _team(browser, "Support", csrf)
    billing = await _team(browser, "Billing", csrf)
    created = await browser.post(
        "/v1/users",
        json={
            "email": "Bo@Acme.example",
            "name": "Bo Berg",
            "role": "agent",
            "team_ids": [support["id"], billing["id"]],
            "password": "a good long password",
        },
        headers=write,
    )
    assert created.status_code == 201, created.text
    bo = created.json()
    assert bo["id"].startswith("usr_") and bo["email"] == "bo@acme.example" and bo["has_password"] is True
    assert bo["team_ids"] == [support["id"], billing["id"]]
    no_password = await browser.post(
        "/v1/users", json={"email": "cy@acme.example", "name": "Cy", "role": "supervisor"}, headers=write
    )
    assert no_password.status_code == 201 and no_password.json()["has_password"] is False

    agents = (await browser.get("/v1/users", params={"role": "agent"})).json()["data"]
    assert [user["email"] for user in agents] == ["bo@acme.example"]
    in_billing = (await browser.get("/v1/users", params={"team_id": billing["id"]})).json()["data"]
    assert [user["id"] for user in in_billing] == [bo["id"]]

    patched = await browser.patch(
        f"/v1/users/{bo['id']}", json={"role": "supervisor", "team_ids": [billing["id"]]}, headers=write
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["role"] == "supervisor" and patched.json()["team_ids"] == [billing["id"]]
    teams = {team["name"]: team for team in (await browser.get("/v1/teams")).json()["data"]}
    assert teams["Support"]["member_ids"] == [] and teams["Billing"]["member_ids"] == [bo["id"]]

    added = await browser.post(
        f"/v1/teams/{support['id']}/members", json={"user_id": bo["id"]}, headers=write
    )
    assert added.status_code == 200 and added.json()["member_ids"] == [bo["id"]]
    removed = await browser.delete(f"/v1/teams/{support['id']}/members/{bo['id']}", headers=write)
    assert removed.status_code == 200 and removed.json()["member_ids"] == []

    disabled = await browser.post(f"/v1/users/{bo['id']}/disable", headers=write)
    assert disabled.status_code == 200 and disabled.json()["disabled_at"] is not None
    listed = (await browser.get("/v1/users", params={"disabled": "true"})).json()["data"]
    assert [user["id"] for user in listed] == [bo["id"]]

    audit = (await browser.get("/v1/audit", params={"actor": f"user:{admin.user_id}"})).json()["data"]
    actions = {entry["action"] for entry in audit}
    assert {
        "team.created",
        "user.created",
        "user.updated",
        "team.member_added",
        "team.member_removed",
    } <= actions
    assert "user.disabled" in actions


async def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    key_client: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    await make_person(runtime, tenant.tenant_id, "taken@acme.example", "agent", AGENT_PASSWORD)
    support = await _team(key_client, "Support")
    base = {"name": "Dee", "role": "agent", "team_ids": [support["id"]], "password": "long enough pass"}
    cases = [
        ({**base, "email": "TAKEN@acme.example"}, 409, "email", "already exists"),
        (
            {**base, "email": "dee@acme.example", "team_ids": [support["id"], "team_nope"]},
            422,
            "team_ids",
            "team_nope",
        ),
        ({**base, "email": "dee@acme.example", "role": "owner"}, 422, "role", "role"),
        ({**base, "email": "dee@acme.example", "password": "short"}, 422, "password", "12"),
        ({**base, "email": "not an address"}, 422, "email", "not a valid email"),
    ]
    for body, status, field, words in cases:
        answer = await key_client.post("/v1/users", json=body)
        assert answer.status_code == status, (body, answer.text)
        problem = problem_of(answer)
        assert problem["field"] == field and words in problem["detail"], problem
    users = (await key_client.get("/v1/users")).json()["data"]
    assert [user["email"] for user in users] == ["taken@acme.example"]
    teams = (await key_client.get("/v1/teams")).json()["data"]
    assert teams[0]["member_ids"] == []
    duplicate = await key_client.post("/v1/teams", json={"name": "Support"})
    assert duplicate.status_code == 409 and problem_of(duplicate)["field"] == "name"
    unknown = await key_client.patch("/v1/users/usr_nope", json={"name": "X"})
    assert unknown.status_code == 404


async def test_roles_decide_what_people_may_do(
    runtime: Runtime, tenant: TenantKey, browser: httpx.AsyncClient
) -> None:
    agent = await make_person(runtime, tenant.tenant_id, "agent@acme.example", "agent", AGENT_PASSWORD)
    supervisor = await make_person(
        runtime, tenant.tenant_id, "sup@acme.example", "supervisor", AGENT_PASSWORD
    )
    new_user = {"email": "new@acme.example", "name": "New", "role": "agent"}

    csrf = await sign_in(browser, agent)
    for method, path, body in (
        ("GET", "/v1/users", None),
        ("GET", f"/v1/users/{supervisor.user_id}", None),
        ("POST", "/v1/users", new_user),
        ("POST", f"/v1/users/{supervisor.user_id}/disable", None),
        ("POST", "/v1/teams", {"name": "Mine"}),
        ("GET", "/v1/audit", None),
    ):
        answer = await browser.request(method, path, json=body, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 403, (method, path, answer.text)
        assert problem_of(answer)["code"] in ("missing_scope", "missing_role")
    assert (await browser.get("/v1/teams")).status_code == 200

    csrf = await sign_in(browser, supervisor)
    listed = await browser.get("/v1/users")
    assert listed.status_code == 200 and len(listed.json()["data"]) == 2
    for method, path in (("POST", "/v1/users"), ("POST", f"/v1/users/{agent.user_id}/disable")):
        answer = await browser.request(method, path, json=new_user, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 403 and problem_of(answer)["code"] == "missing_scope", answer.text
    # A key without the admin scope may not manage people either.
    reader = await new_tenant_key(runtime, tenant.tenant_id, scopes=["read", "write"])
    answer = await browser.post("/v1/users", json=new_user, headers={"Authorization": f"Bearer {reader}"})
    assert answer.status_code == 403
    users = (await browser.get("/v1/users")).json()["data"]
    assert "new@acme.example" not in [user["email"] for user in users]


async def test_a_signed_in_persons_change_names_them_in_the_audit_log_and_the_event(
    browser: httpx.AsyncClient, key_client: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    agent = await make_person(runtime, tenant.tenant_id, "ana@acme.example", "agent", AGENT_PASSWORD)
    csrf = await sign_in(browser, agent)
    write = {"X-CSRF-Token": csrf}
    kept = (await browser.post("/v1/customers", json={"name": "Jane"}, headers=write)).json()
    gone = (await browser.post("/v1/customers", json={"name": "Jane D."}, headers=write)).json()
    merged = await browser.post(
        f"/v1/customers/{kept['id']}/merge", json={"source_customer_id": gone["id"]}, headers=write
    )
    assert merged.status_code == 201, merged.text

    [entry] = (await key_client.get("/v1/audit", params={"action": "customer.merged"})).json()["data"]
    assert entry["actor"] == f"user:{agent.user_id}"
    events = (await key_client.get("/v1/events", params={"type": "customer.created"})).json()["data"]
    assert {event["subject"]: event["actor"] for event in events} == {
        kept["id"]: f"user:{agent.user_id}",
        gone["id"]: f"user:{agent.user_id}",
    }
    # A key's change names the key, as before.
    by_key = (await key_client.post("/v1/customers", json={"name": "Kim"})).json()
    events = (
        await key_client.get("/v1/events", params={"type": "customer.created", "subject": by_key["id"]})
    ).json()
    assert events["data"][0]["actor"].startswith("api_key:key_")
