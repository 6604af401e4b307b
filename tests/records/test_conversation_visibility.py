"""What a signed-in person sees follows their role and teams: a conversation routed to a queue is the work
of the queue's teams; an agent sees their teams', those of no team and those assigned to them, a
supervisor also those of their teams' members, an admin and an API key everything. A conversation out of
sight answers 404, as another tenant's does, in every route that names it, and leaves the timeline and
the agent socket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.channels.webchat.conftest import LiveServer, connect, serving
from tests.conftest import TenantKey
from tests.governance.staff.people import Person, make_person, sign_in
from tests.records.test_tenant_files import app_user, conversation_of, send, upload

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.governance.staff import service as staff
from cxstack.records.conversations import service as conversations_service
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
async def server(runtime: Runtime) -> AsyncIterator[LiveServer]:
    async with serving(create_app(runtime, manage_runtime=False)) as url:
        yield LiveServer(url)


@dataclass
class Desk:
    api: httpx.AsyncClient
    people: dict[str, Person]
    #: Conversation ids: "a" (team A's), "b" (team B's), "open" (no team), "mine" (team B's, assigned
    #: to the agent of team A).
    conversations: dict[str, str]
    customer_id: str
    teams: dict[str, str]


async def _team(runtime: Runtime, tenant_id: str, name: str) -> str:
    def create(uow: UnitOfWork) -> str:
        return staff.create_team(uow, tenant_id=tenant_id, name=name).id

    return await runtime.db.write(create)


async def _routed(api: httpx.AsyncClient, conversation_id: str, team_ids: list[str]) -> None:
    """Wait until routing made the conversation the work of ``team_ids``."""
    for _ in range(200):
        answer = await api.get(f"/v1/conversations/{conversation_id}")
        assert answer.status_code == 200, answer.text
        if answer.json()["team_ids"] == team_ids:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"conversation {conversation_id} never became {team_ids}'s: {answer.json()}")


async def set_up(server: LiveServer, runtime: Runtime, tenant: TenantKey) -> Desk:
    api = httpx.AsyncClient(base_url=server.url, headers=tenant.headers, trust_env=False)
    teams = {name: await _team(runtime, tenant.tenant_id, name) for name in ("A", "B")}
    people = {
        "agent_a": await make_person(
            runtime, tenant.tenant_id, "ann@acme.example", "agent", "ann password 1234", [teams["A"]]
        ),
        "agent_b": await make_person(
            runtime, tenant.tenant_id, "bob@acme.example", "agent", "bob password 1234", [teams["B"]]
        ),
        "supervisor_a": await make_person(
            runtime, tenant.tenant_id, "sue@acme.example", "supervisor", "sue password 1234", [teams["A"]]
        ),
        "admin": await make_person(
            runtime, tenant.tenant_id, "ada@acme.example", "admin", "ada password 1234"
        ),
    }
    # Email goes to team A's queue, SMS to team B's; webchat has no queue (no team: everyone's).
    for name, channel in (("A", "email"), ("B", "sms")):
        queue = await api.post(
            "/v1/routing/queues",
            json={"name": f"Team {name}", "channels": [channel], "team_ids": [teams[name]]},
        )
        assert queue.status_code == 201, queue.text
    customer = await api.post("/v1/customers", json={"name": "Carol", "email": "carol@example.com"})
    assert customer.status_code == 201, customer.text
    customer_id = customer.json()["id"]
    conversations: dict[str, str] = {}
    for key, channel in (("a", "email"), ("b", "sms"), ("open", "webchat"), ("mine", "sms")):
        answer = await api.post(
            "/v1/conversations", json={"customer_id": customer_id, "channel": channel, "subject": key}
        )
        assert answer.status_code == 201, answer.text
        conversations[key] = answer.json()["id"]
    await _routed(api, conversations["a"], [teams["A"]])
    await _routed(api, conversations["b"], [teams["B"]])
    await _routed(api, conversations["mine"], [teams["B"]])
    assigned = await api.patch(
        f"/v1/conversations/{conversations['mine']}", json={"assignee": people["agent_a"].user_id}
    )
    assert assigned.status_code == 200, assigned.text
    for key, conversation_id in conversations.items():
        posted = await api.post(
            f"/v1/conversations/{conversation_id}/messages",
            json={"direction": "inbound", "author_kind": "customer", "body": f"hello {key}"},
        )
        assert posted.status_code == 201, posted.text
    return Desk(api, people, conversations, customer_id, teams)


async def _browser(server: LiveServer, person: Person) -> tuple[httpx.AsyncClient, str]:
    browser = httpx.AsyncClient(base_url=server.url, trust_env=False)
    csrf = await sign_in(browser, person)
    return browser, csrf


async def _listed(client: httpx.AsyncClient, desk: Desk) -> set[str]:
    answer = await client.get("/v1/conversations", params={"limit": 200})
    assert answer.status_code == 200, answer.text
    names = {conversation_id: key for key, conversation_id in desk.conversations.items()}
    return {names[item["id"]] for item in answer.json()["data"]}


async def _timeline_conversations(client: httpx.AsyncClient, desk: Desk, *, limit: int) -> list[str]:
    """The conversations of the customer's timeline entries, read ``limit`` entries a page."""
    names = {conversation_id: key for key, conversation_id in desk.conversations.items()}
    found: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        answer = await client.get(f"/v1/customers/{desk.customer_id}/timeline", params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        found += [names[e["conversation_id"]] for e in page["data"] if e["conversation_id"] is not None]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


async def test_each_role_sees_the_conversations_of_its_teams_and_the_rest_answer_404(
    server: LiveServer, runtime: Runtime, tenant: TenantKey
) -> None:
    desk = await set_up(server, runtime, tenant)
    conversations = desk.conversations
    agent, _ = await _browser(server, desk.people["agent_a"])
    supervisor, _ = await _browser(server, desk.people["supervisor_a"])
    other_agent, _ = await _browser(server, desk.people["agent_b"])
    admin, _ = await _browser(server, desk.people["admin"])

    assert await _listed(agent, desk) == {"a", "open", "mine"}
    assert await _listed(supervisor, desk) == {"a", "open", "mine"}
    assert await _listed(other_agent, desk) == {"b", "open", "mine"}
    assert await _listed(admin, desk) == {"a", "b", "open", "mine"}
    assert await _listed(desk.api, desk) == {"a", "b", "open", "mine"}

    # Team B's conversation is, for team A's agent, as one that does not exist.
    hidden = conversations["b"]
    unknown = await agent.get("/v1/conversations/cnv_nosuchconversation")
    for path in (f"/v1/conversations/{hidden}", f"/v1/conversations/{hidden}/messages"):
        answer = await agent.get(path)
        assert answer.status_code == 404, answer.text
        assert answer.json()["code"] == unknown.json()["code"] == "not_found"
        assert answer.json()["field"] == "conversation_id"
    seen = await agent.get(f"/v1/conversations/{conversations['mine']}/messages")
    assert seen.status_code == 200 and seen.json()["data"][0]["body"] == "hello mine"
    assert (await supervisor.get(f"/v1/conversations/{hidden}")).status_code == 404
    assert (await admin.get(f"/v1/conversations/{hidden}")).status_code == 200

    # The timeline leaves team B's conversation out, whatever the page size.
    everything = await _timeline_conversations(desk.api, desk, limit=200)
    assert "b" in everything
    for limit in (1, 2, 200):
        assert await _timeline_conversations(agent, desk, limit=limit) == [
            key for key in everything if key != "b"
        ]
    assert await _timeline_conversations(admin, desk, limit=200) == everything


async def test_writes_to_a_conversation_out_of_sight_answer_404_and_change_nothing(
    server: LiveServer, runtime: Runtime, tenant: TenantKey
) -> None:
    desk = await set_up(server, runtime, tenant)
    agent, csrf = await _browser(server, desk.people["agent_a"])
    headers = {"X-CSRF-Token": csrf}
    hidden = desk.conversations["b"]
    for method, path, body in (
        ("POST", f"/v1/conversations/{hidden}/messages", {"direction": "outbound", "body": "hi"}),
        ("PATCH", f"/v1/conversations/{hidden}", {"subject": "mine now"}),
        ("POST", f"/v1/conversations/{hidden}/close", None),
        ("POST", "/v1/cases", {"customer_id": desk.customer_id, "subject": "x", "conversation_id": hidden}),
    ):
        answer = await agent.request(method, path, json=body, headers=headers)
        assert answer.status_code == 404, (path, answer.text)
    after = (await desk.api.get(f"/v1/conversations/{hidden}")).json()
    assert after["subject"] == "b" and after["status"] != "closed" and after["message_count"] == 1
    posted = await agent.post(
        f"/v1/conversations/{desk.conversations['a']}/messages",
        json={"direction": "outbound", "body": "on it"},
        headers=headers,
    )
    assert posted.status_code == 201, posted.text


async def test_cases_of_a_conversation_out_of_sight_are_out_of_sight(
    server: LiveServer, runtime: Runtime, tenant: TenantKey
) -> None:
    desk = await set_up(server, runtime, tenant)
    cases: dict[str, str] = {}
    for key, conversation in (("b", desk.conversations["b"]), ("a", desk.conversations["a"]), ("none", None)):
        answer = await desk.api.post(
            "/v1/cases",
            json={"customer_id": desk.customer_id, "subject": key, "conversation_id": conversation},
        )
        assert answer.status_code == 201, answer.text
        cases[key] = answer.json()["id"]
    agent, _ = await _browser(server, desk.people["agent_a"])
    listed = await agent.get("/v1/cases")
    assert {case["subject"] for case in listed.json()["data"]} == {"a", "none"}
    assert (await agent.get(f"/v1/cases/{cases['b']}")).status_code == 404
    assert (await agent.get(f"/v1/cases/{cases['a']}")).status_code == 200
    everyone = await desk.api.get("/v1/cases")
    assert {case["subject"] for case in everyone.json()["data"]} == {"a", "b", "none"}


async def test_the_agent_socket_of_a_signed_in_agent_carries_only_the_conversations_they_see(
    server: LiveServer, runtime: Runtime, tenant: TenantKey
) -> None:
    desk = await set_up(server, runtime, tenant)
    agent, _ = await _browser(server, desk.people["agent_a"])
    cookie = {"Cookie": f"cxstack_session={agent.cookies['cxstack_session']}"}
    ws = server.ws_url + "/ws/agent"
    async with (
        connect(ws, additional_headers=cookie) as socket,
        connect(ws, additional_headers=tenant.headers) as integration,
    ):
        welcome = await socket.expect("welcome")
        assert welcome["user_id"] == desk.people["agent_a"].user_id
        await integration.expect("welcome")
        for key in ("b", "a", "open", "mine"):
            posted = await desk.api.post(
                f"/v1/conversations/{desk.conversations[key]}/messages",
                json={"direction": "inbound", "author_kind": "customer", "body": f"again {key}"},
            )
            assert posted.status_code == 201, posted.text
        for key in ("a", "open", "mine"):
            frame = await socket.expect("message")
            assert frame["message"]["body"] == f"again {key}", socket.seen
        for key in ("b", "a", "open", "mine"):
            frame = await integration.expect("message")
            assert frame["message"]["body"] == f"again {key}"
        shown = {f["message"]["conversation_id"] for f in socket.seen if f["type"] == "message"}
        assert desk.conversations["b"] not in shown

        # A reply to a conversation out of sight is refused as one to a conversation that does not exist.
        hidden = desk.conversations["b"]
        await socket.send({"type": "message", "conversation_id": hidden, "client_id": "c1", "body": "hi"})
        refused = await socket.expect("error", client_id="c1")
        assert refused["code"] == "not_found"
    assert (await desk.api.get(f"/v1/conversations/{hidden}")).json()["message_count"] == 2


async def test_people_s_sockets_shown_the_same_events_share_one_read_and_each_gets_what_they_see(
    server: LiveServer, runtime: Runtime, tenant: TenantKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = await set_up(server, runtime, tenant)
    reads: list[list[str]] = []
    audiences = conversations_service.conversation_audiences

    def counted(session: Any, *, tenant_id: str, conversation_ids: list[str]) -> Any:
        reads.append(list(conversation_ids))
        return audiences(session, tenant_id=tenant_id, conversation_ids=conversation_ids)

    monkeypatch.setattr(conversations_service, "conversation_audiences", counted)
    sees = {
        "agent_a": {"a", "open", "mine"},
        "agent_b": {"b", "open", "mine"},
        "supervisor_a": {"a", "open", "mine"},
    }
    ws = server.ws_url + "/ws/agent"
    sockets = {}
    async with contextlib.AsyncExitStack() as stack:
        for name in sees:
            browser, _ = await _browser(server, desk.people[name])
            cookie = {"Cookie": f"cxstack_session={browser.cookies['cxstack_session']}"}
            sockets[name] = await stack.enter_async_context(connect(ws, additional_headers=cookie))
            await sockets[name].expect("welcome")
        for key in ("b", "a", "open", "mine"):
            posted = await desk.api.post(
                f"/v1/conversations/{desk.conversations[key]}/messages",
                json={"direction": "inbound", "author_kind": "customer", "body": f"shared {key}"},
            )
            assert posted.status_code == 201, posted.text
        for name, keys in sees.items():
            for key in ("b", "a", "open", "mine"):
                if key in keys:
                    frame = await sockets[name].expect("message")
                    assert frame["message"]["body"] == f"shared {key}", (name, sockets[name].seen)
            shown = {f["message"]["body"] for f in sockets[name].seen if f["type"] == "message"}
            assert shown == {f"shared {key}" for key in keys}, name
    # One read for the three sockets at each message, not one each.
    assert reads and len(reads) <= 4 * 2, reads


async def test_a_socket_without_a_valid_session_is_refused(server: LiveServer) -> None:
    async with connect(
        server.ws_url + "/ws/agent", additional_headers={"Cookie": "cxstack_session=not-a-session"}
    ) as socket:
        refused = await socket.expect("error")
        assert refused["code"] == "session_invalid"


async def test_only_an_admin_changes_the_channels_configuration(
    server: LiveServer, runtime: Runtime, tenant: TenantKey
) -> None:
    people = {
        role: await make_person(
            runtime, tenant.tenant_id, f"{role}@acme.example", role, f"{role} password 1234"
        )
        for role in ("agent", "supervisor", "admin")
    }
    changes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("PUT", "/v1/channels/webchat/settings", {"greeting": "Help"}),
        ("GET", "/v1/channels/webchat/settings", None),
        ("POST", "/v1/channels/email/inboxes", {"address": "help@acme.example"}),
        ("POST", "/v1/channels/sms/numbers", {"phone_number": "+14155550100"}),
        ("PUT", "/v1/channels/voice/ivr", {"greeting": "Hello", "options": []}),
        ("PUT", "/v1/channels/inapp/push", {}),
        ("POST", "/v1/routing/queues", {"name": "Sales", "channels": ["email"]}),
        ("POST", "/v1/teams", {"name": "Sales"}),
        ("POST", "/v1/sla/policies", {"name": "Gold"}),
    ]
    for role in ("agent", "supervisor"):
        browser, csrf = await _browser(server, people[role])
        for method, path, body in changes:
            answer = await browser.request(method, path, json=body, headers={"X-CSRF-Token": csrf})
            assert answer.status_code == 403, (role, path, answer.text)
            assert answer.json()["code"] in ("missing_role", "missing_scope"), answer.text
    admin, csrf = await _browser(server, people["admin"])
    answer = await admin.put(
        "/v1/channels/webchat/settings", json={"greeting": "Help"}, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status_code == 200, answer.text


async def test_the_sla_and_the_files_of_a_conversation_out_of_sight_answer_404(
    server: LiveServer, runtime: Runtime, tenant: TenantKey
) -> None:
    desk = await set_up(server, runtime, tenant)
    queue = await desk.api.post(
        "/v1/routing/queues",
        json={"name": "Team B app", "channels": ["inapp"], "team_ids": [desk.teams["B"]]},
    )
    assert queue.status_code == 201, queue.text
    user = await app_user(desk.api, tenant, "user-7")
    uploaded = await upload(desk.api, user, "invoice.pdf", b"%PDF-1.7 invoice", "application/pdf")
    sent = await send(desk.api, user, "m1", [uploaded])
    assert sent.status_code == 201, sent.text
    in_app = await conversation_of(desk.api, user)
    await _routed(desk.api, in_app, [desk.teams["B"]])
    files = (await desk.api.get(f"/v1/conversations/{in_app}/files")).json()["data"]
    file_id = files[0]["id"]

    agent_a, _ = await _browser(server, desk.people["agent_a"])
    agent_b, _ = await _browser(server, desk.people["agent_b"])
    unknown_file = await agent_a.get("/v1/files/fil_nosuchfile")
    for path in (f"/v1/files/{file_id}", f"/v1/files/{file_id}/content"):
        hidden = await agent_a.get(path)
        assert hidden.status_code == 404, hidden.text
        assert hidden.json()["code"] == unknown_file.json()["code"]
        assert hidden.json()["detail"] == f"file {file_id} does not exist"
        assert (await agent_b.get(path)).status_code == 200
    assert (await agent_b.get(f"/v1/files/{file_id}/content")).content == b"%PDF-1.7 invoice"
    for path in (f"/v1/conversations/{in_app}/files", f"/v1/conversations/{desk.conversations['b']}/sla"):
        assert (await agent_a.get(path)).status_code == 404, path
    for path in (f"/v1/conversations/{in_app}/files", f"/v1/conversations/{desk.conversations['b']}/sla"):
        assert (await agent_b.get(path)).status_code == 200, path
    assert (await agent_a.get(f"/v1/conversations/{desk.conversations['a']}/sla")).status_code == 200


async def test_notes_on_a_conversation_out_of_sight_answer_404_and_none_is_written(
    server: LiveServer, runtime: Runtime, tenant: TenantKey
) -> None:
    desk = await set_up(server, runtime, tenant)
    hidden, seen = desk.conversations["b"], desk.conversations["a"]
    written = await desk.api.post(
        "/v1/notes", json={"target_type": "conversation", "target_id": hidden, "body": "VIP, be kind"}
    )
    assert written.status_code == 201, written.text
    agent, csrf = await _browser(server, desk.people["agent_a"])
    headers = {"X-CSRF-Token": csrf}
    refused = [
        await agent.post(
            "/v1/notes",
            json={"target_type": "conversation", "target_id": hidden, "body": "mine now"},
            headers=headers,
        ),
        await agent.get("/v1/notes", params={"target_type": "conversation", "target_id": hidden}),
        await agent.delete(f"/v1/notes/{written.json()['id']}", headers=headers),
    ]
    assert [answer.status_code for answer in refused] == [404, 404, 404], [a.text for a in refused]
    listed = await desk.api.get("/v1/notes", params={"target_type": "conversation", "target_id": hidden})
    assert [note["body"] for note in listed.json()["data"]] == ["VIP, be kind"]
    mine = await agent.post(
        "/v1/notes", json={"target_type": "conversation", "target_id": seen, "body": "on it"}, headers=headers
    )
    assert mine.status_code == 201, mine.text
