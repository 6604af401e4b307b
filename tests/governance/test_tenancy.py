"""Tenant isolation over the whole API, found from the app's OpenAPI schema rather than listed by hand.

Two tenants each get records through every creation route the schema offers (request bodies are built
from the routes' JSON schemas, with a few recipes where a valid value cannot be guessed). Then every
``GET`` route is walked:

- a route with path parameters is asked, by each tenant, for the other tenant's ids (each parameter in
  turn, and all of them at once): the answer must be 404 and hold nothing of the other tenant, while the
  same route with the tenant's own ids answers 200 (so the 404 is isolation, not a broken URL);
- a list route must show the tenant its own rows and nothing of the other tenant's, also when its filters
  name the other tenant's ids.

A route added later is covered as soon as it is in the schema. If the test cannot find ids or query
values for a new route, it fails naming the route: add a recipe below (``BODY_RECIPES``,
``QUERY_RECIPES`` or ``EXTRA_SEEDS``) rather than an exemption, unless the route holds no tenant data.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from tests.channels.sms.fake_twilio import sign
from tests.channels.voice.fake_twilio_calls import FakeTwilioCalls, FakeTwilioCallsServer
from tests.conftest import TenantKey

from cxstack.backbone.envelope import Event
from cxstack.backbone.subscriptions import EventHandlers, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.config import Settings
from cxstack.kit.files import local_file_store
from cxstack.records.customers.schemas import CustomerCreated
from cxstack.routing.held import Routers
from cxstack.runtime import Runtime
from cxstack.web.app import create_app
from cxstack.wiring import build_subscriptions

#: A floor under the number of GET routes walked, so that an empty or unreadable schema cannot pass.
MIN_ROUTES_EXERCISED = 15
#: GET routes that hold no tenant data, with the reason. Keep this empty if at all possible.
EXEMPT: dict[str, str] = {
    # Not reached with a tenant API key at all: the app key names the tenant and the signed user the rows
    # (tests/channels/inapp shows one tenant's app users cannot read another's).
    "/v1/inapp/messages": "the in-app API authenticates an app user (app key and user hash), not a tenant",
    "/v1/inapp/devices": "the in-app API authenticates an app user (app key and user hash), not a tenant",
    # Not reached with a tenant API key at all: the session cookie names the user, and so the tenant
    # (tests/governance/staff/test_sign_in.py shows a session reads its own tenant's records only).
    "/v1/auth/me": "shows the signed-in user of a session cookie, not a tenant key's records",
    # Public redirects of the OIDC sign-in: no credentials, no records shown, only a Location
    # (tests/governance/staff/test_oidc_sign_in.py shows each tenant's provider signs in its own people).
    "/v1/auth/oidc/{tenant_slug}/start": "redirects a browser to the tenant's provider; shows no records",
    "/v1/auth/oidc/callback": "takes a browser back from a provider; shows no records",
    # Refused to every tenant API key (403): views and mentions are a signed-in person's own
    # (tests/workspace/test_views.py and test_mentions.py show another person's, and another tenant's,
    # answer 404).
    "/v1/views": "a signed-in person's own saved views; a tenant key is refused",
    "/v1/views/{view_id}": "a signed-in person's own saved views; a tenant key is refused",
    "/v1/mentions": "a signed-in person's own mentions; a tenant key is refused",
    # Numbers only, no record to recognise (tests/records/test_inbox.py shows another tenant's
    # conversations change none of them).
    "/v1/conversations/counts": "shows how many of the tenant's conversations, no ids or data of them",
    # Not reached with a tenant API key at all: an operator key sees every tenant by design
    # (tests/governance/test_operator_api.py shows tenant keys are refused there).
    **{
        route: "operator routes take an operator key, never a tenant's"
        for route in (
            "/v1/operator/tenants",
            "/v1/operator/tenants/{tenant_id}",
            "/v1/operator/tenants/{tenant_id}/keys",
            "/v1/operator/tenants/{tenant_id}/audit",
        )
    },
}

ULID = r"[0-9A-HJKMNP-TV-Z]{26}"
ID_PATTERN = re.compile(rf"\b(?:[a-z]{{2,8}}_)?{ULID}\b")
PROBLEM = "application/problem+json"
#: Optional body fields filled in anyway, so that every record carries its tenant's marker.
MARKED_FIELDS = frozenset({"name", "email", "phone", "subject", "title", "body", "description", "domain"})
MISSING = object()


# -- what each tenant has ---------------------------------------------------------------------------


@dataclass
class Seeded:
    """One tenant's key and what was created for it."""

    key: TenantKey
    slug: str
    #: Ids found at a concrete collection path (``/v1/customers/cus_1/identities``), creation order.
    ids_at: dict[str, list[str]] = field(default_factory=dict)
    #: The same ids by the collection's path template (``/v1/customers/{customer_id}/identities``).
    ids_of: dict[str, list[str]] = field(default_factory=dict)
    #: Values used for path parameters that are not ids (a tag name).
    path_values: dict[str, str] = field(default_factory=dict)
    #: Every id that appeared in an answer to this tenant about its own records.
    seen: set[str] = field(default_factory=set)
    #: Bodies of created records, by collection template.
    created: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def headers(self) -> dict[str, str]:
        return self.key.headers

    def record(self, collection: str, template: str, body: Any) -> None:
        items = body.get("data") if isinstance(body, dict) and isinstance(body.get("data"), list) else [body]
        for item in items:
            if isinstance(item, dict) and "id" in item:
                value = str(item["id"])
                for bucket in (self.ids_at.setdefault(collection, []), self.ids_of.setdefault(template, [])):
                    if value not in bucket:
                        bucket.append(value)

    def first_of_collection(self, name: str) -> str | None:
        """The first id of a top-level collection named ``name`` (``customers``), if any."""
        for template, ids in self.ids_of.items():
            if ids and template.rstrip("/").split("/")[-1] == name and "{" not in template:
                return ids[0]
        return None


def ids_in(text: str) -> set[str]:
    return set(ID_PATTERN.findall(text))


def plural(noun: str) -> list[str]:
    return [noun + "s", noun + "es", noun[:-1] + "ies" if noun.endswith("y") else noun, noun]


# -- building requests from the schema --------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    spec: dict[str, Any]

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{([^}:]+)(?::[^}]*)?}", self.template)

    def query_params(self) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p.get("in") == "query"]

    @property
    def creates(self) -> bool:
        return self.method == "post" and "201" in self.spec.get("responses", {})


def operations(schema: dict[str, Any]) -> list[Operation]:
    return [
        Operation(method, template, spec)
        for template, item in schema["paths"].items()
        for method, spec in item.items()
        if template.startswith("/v1/")
    ]


class Synthesiser:
    """Builds values for a JSON schema: each tenant's strings carry its slug, ids come from its records."""

    def __init__(self, components: dict[str, Any]) -> None:
        self.components = components

    def deref(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [self.deref(o) for o in schema[key] if o.get("type") != "null"]
                return options[0] if options else {"type": "null"}
        return schema

    def id_for(self, name: str, siblings: dict[str, Any], seeded: Seeded) -> str | None:
        base = name.removesuffix("_id")
        kind = siblings.get(f"{base}_type")
        for noun in [kind] if isinstance(kind, str) else [base]:
            for collection in plural(noun):
                found = seeded.first_of_collection(collection)
                if found is not None:
                    return found
        return None

    def value(self, name: str, schema: dict[str, Any], siblings: dict[str, Any], seeded: Seeded) -> Any:
        schema = self.deref(schema)
        n = next(seeded.counter)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "string":
            if name.endswith("_id"):
                found = self.id_for(name, siblings, seeded)
                return MISSING if found is None else found
            if name == "email" or schema.get("format") == "email":
                return f"person{n}.{seeded.slug}@{seeded.slug}.example"
            if name == "phone":
                return f"+1 415 555 {2600 + n:04d}"
            if name == "domain":
                return f"{seeded.slug}{n}.example"
            if schema.get("format") == "date-time":
                return (datetime.now(UTC) + timedelta(days=1)).isoformat()
            text = f"{seeded.slug}-{name}-{n}"
            return text[: schema.get("maxLength", len(text))]
        if kind == "integer" or kind == "number":
            low = schema.get("minimum", 1)
            return max(int(low), 1)
        if kind == "boolean":
            return False
        if kind == "array":
            if schema.get("minItems", 0) == 0:
                return []
            item = self.value(name, schema.get("items", {}), siblings, seeded)
            return MISSING if item is MISSING else [item]
        if kind == "object" or "properties" in schema:
            return self.body(schema, seeded)
        return MISSING

    def body(self, schema: dict[str, Any], seeded: Seeded) -> Any:
        schema = self.deref(schema)
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        out: dict[str, Any] = {}
        # Ids last, so that ``target_id`` can follow ``target_type``.
        for name in sorted(properties, key=lambda n: n.endswith("_id")):
            if name not in required and name not in MARKED_FIELDS:
                continue
            value = self.value(name, properties[name], out, seeded)
            if value is MISSING:
                if name in required:
                    return MISSING
                continue
            out[name] = value
        return out


def customer_body(seeded: Seeded) -> dict[str, Any]:
    n = next(seeded.counter)
    return {
        "name": f"{seeded.slug.title()} Customer {n}",
        "email": f"customer{n}@{seeded.slug}.example",
        "phone": f"+1 415 555 {2700 + n:04d}",
        "attributes": {"tenant": seeded.slug},
    }


def identity_body(seeded: Seeded) -> dict[str, Any]:
    return {"kind": "external", "system": "crm", "value": f"{seeded.slug}-crm-{next(seeded.counter)}"}


def sms_number_body(seeded: Seeded) -> dict[str, Any]:
    digit = "1" if seeded.slug == "acme" else "2"
    return {
        "number": f"+1 415 555 01{digit}0",
        "account_sid": "AC" + digit * 32,
        "auth_token": digit * 32,
    }


async def seed_sms(client: httpx.AsyncClient, seeded: Seeded) -> None:
    """A customer's STOP through the signed Twilio webhook, then a reply that is refused for it: gives the
    tenant an opt-out and an SMS send to read back."""
    number = seeded.created["/v1/channels/sms/numbers"][0]
    phone = "+1415555310" + number["account_sid"][-1]  # its own in each tenant
    customer = await client.post(
        "/v1/customers", json={"name": f"{seeded.slug} texter", "phone": phone}, headers=seeded.headers
    )
    assert customer.status_code == 201, customer.text
    seeded.seen.add(customer.json()["id"])
    sid = "SM" + number["account_sid"][2:]
    params = [
        ("MessageSid", sid),
        ("AccountSid", number["account_sid"]),
        ("From", phone),
        ("To", number["number"]),
        ("Body", "STOP"),
    ]
    signature = sign("http://cxstack.test/hooks/sms/twilio", params, number["auth_token"])
    response = await client.post(
        "/hooks/sms/twilio",
        content=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )
    assert response.status_code == 200, response.text
    conversations = await client.get(
        "/v1/conversations", params={"channel": "sms", "order": "desc"}, headers=seeded.headers
    )
    conversation_id = conversations.json()["data"][0]["id"]
    reply = await client.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={"direction": "outbound", "body": f"{seeded.slug} reply"},
        headers=seeded.headers,
    )
    assert reply.status_code == 201, reply.text
    message_id = reply.json()["id"]
    seeded.ids_at["/v1/channels/sms/messages"] = seeded.ids_of["/v1/channels/sms/messages"] = [message_id]
    seeded.seen.add(message_id)
    seeded.path_values["phone"] = phone


async def seed_voice(client: httpx.AsyncClient, seeded: Seeded) -> None:
    """The tenant's phone menu, and a call through the signed Twilio webhook to its number: gives the
    tenant an IVR, a call and its context to read back."""
    menu = {
        "greeting": f"Welcome to {seeded.slug}.",
        "options": [
            {"key": "support", "digit": "1", "prompt": "Press 1.", "queue": f"{seeded.slug}-support"}
        ],
    }
    response = await client.put("/v1/channels/voice/ivr", json=menu, headers=seeded.headers)
    assert response.status_code == 200, response.text
    number = seeded.created["/v1/channels/sms/numbers"][0]
    params = [
        ("CallSid", "CA" + number["account_sid"][2:]),
        ("AccountSid", number["account_sid"]),
        ("From", "+1415555320" + number["account_sid"][-1]),
        ("To", number["number"]),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]
    signature = sign("http://cxstack.test/hooks/voice/twilio/incoming", params, number["auth_token"])
    response = await client.post(
        "/hooks/voice/twilio/incoming",
        content=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )
    assert response.status_code == 200, response.text
    calls = await client.get("/v1/channels/voice/calls", headers=seeded.headers)
    call_ids = [call["id"] for call in calls.json()["data"]]
    seeded.ids_at["/v1/channels/voice/calls"] = seeded.ids_of["/v1/channels/voice/calls"] = call_ids
    seeded.seen.update(call_ids)
    # A recording of the call, copied from the fake Twilio into the file store and served by cxstack.
    recording_sid = "RE" + number["account_sid"][2:]
    VOICE_FAKE.add_account(number["account_sid"], number["auth_token"])
    VOICE_FAKE.add_recording(recording_sid, f"{seeded.slug} recording".encode())
    recording = [
        ("AccountSid", number["account_sid"]),
        ("CallSid", params[0][1]),
        ("RecordingSid", recording_sid),
        ("RecordingUrl", f"https://api.twilio.com/2010-04-01/Accounts/{number['account_sid']}/Recordings/x"),
        ("RecordingStatus", "completed"),
    ]
    signature = sign("http://cxstack.test/hooks/voice/twilio/recording", recording, number["auth_token"])
    response = await client.post(
        "/hooks/voice/twilio/recording",
        content=urlencode(recording),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )
    assert response.status_code == 204, response.text
    listed = f"/v1/channels/voice/calls/{call_ids[0]}/recordings"
    async with asyncio.timeout(10):
        while True:
            found = (await client.get(listed, headers=seeded.headers)).json()["data"]
            if found[0]["status"] == "stored":
                break
            await asyncio.sleep(0.02)
    seeded.ids_at["/v1/channels/voice/recordings"] = [found[0]["id"]]
    seeded.seen.add(found[0]["id"])


async def seed_chat(client: httpx.AsyncClient, seeded: Seeded) -> None:
    """The webchat widget's and the in-app channel's settings and push settings (written with PUT, one per
    tenant), and a file an app user sent in their conversation."""
    chat_settings: dict[str, Any] = {}
    for channel in ("webchat", "inapp"):
        response = await client.put(
            f"/v1/channels/{channel}/settings",
            json={"greeting": f"Welcome to {seeded.slug}."},
            headers=seeded.headers,
        )
        assert response.status_code == 200, response.text
        chat_settings[channel] = response.json()
    response = await client.put(
        "/v1/channels/inapp/push", json={"apns_topic": f"com.{seeded.slug}.app"}, headers=seeded.headers
    )
    assert response.status_code == 200, response.text
    app = chat_settings["inapp"]
    user_id = f"{seeded.slug}-user"
    user_hash = hmac.new(app["identity_secret"].encode(), user_id.encode(), hashlib.sha256).hexdigest()
    user = {"X-App-Key": app["widget_key"], "X-User-Id": user_id, "X-User-Hash": user_hash}
    uploaded = await client.post(
        "/v1/inapp/uploads", files={"file": (f"{seeded.slug}.txt", seeded.slug.encode())}, headers=user
    )
    assert uploaded.status_code == 201, uploaded.text
    sent = await client.post(
        "/v1/inapp/messages",
        json={"client_id": "file", "body": "", "attachments": [uploaded.json()]},
        headers=user,
    )
    assert sent.status_code == 201, sent.text
    conversation_id = sent.json()["conversation_id"]
    seeded.ids_at["/v1/channels/webchat/conversations"] = [conversation_id]
    file_id = uploaded.json()["id"]
    seeded.ids_at[f"/v1/channels/webchat/conversations/{conversation_id}/files"] = [file_id]
    seeded.ids_at["/v1/files"] = [file_id]


async def seed_routing(client: httpx.AsyncClient, seeded: Seeded) -> None:
    """A routing profile for each of the tenant's users (available), a queue that takes new chats, and a
    chat started after it, so that the tenant has work routed to its agents."""
    users = await client.get("/v1/users", headers=seeded.headers)
    assert users.status_code == 200, users.text
    for user in users.json()["data"]:
        profile = await client.put(
            f"/v1/routing/agents/{user['id']}", json={"skills": {"general": 3}}, headers=seeded.headers
        )
        assert profile.status_code == 200, profile.text
        presence = await client.put(
            f"/v1/routing/agents/{user['id']}/presence",
            json={"presence": "available"},
            headers=seeded.headers,
        )
        assert presence.status_code == 200, presence.text
    queue = await client.post(
        "/v1/routing/queues",
        json={"name": f"Routed {seeded.slug}", "channels": ["webchat"]},
        headers=seeded.headers,
    )
    assert queue.status_code == 201, queue.text
    customer_id = seeded.ids_of["/v1/customers"][0]
    chat = await client.post(
        "/v1/conversations", json={"customer_id": customer_id, "channel": "webchat"}, headers=seeded.headers
    )
    assert chat.status_code == 201, chat.text


async def seed_sla(client: httpx.AsyncClient, seeded: Seeded) -> None:
    """An email conversation (which the tenant's SLA policy watches) the customer wrote in, so that its
    first-response clock runs (and is at risk within a day)."""
    customer_id = seeded.ids_of["/v1/customers"][0]
    started = await client.post(
        "/v1/conversations",
        json={"customer_id": customer_id, "channel": "email", "subject": f"Late {seeded.slug}"},
        headers=seeded.headers,
    )
    assert started.status_code == 201, started.text
    seeded.seen |= ids_in(started.text)
    wrote = await client.post(
        f"/v1/conversations/{started.json()['id']}/messages",
        json={"direction": "inbound", "author_kind": "customer", "body": f"Waiting, {seeded.slug}"},
        headers=seeded.headers,
    )
    assert wrote.status_code == 201, wrote.text


async def seed_oidc(client: httpx.AsyncClient, seeded: Seeded) -> None:
    """The tenant's OIDC provider (written with PUT, one per tenant)."""
    response = await client.put(
        "/v1/auth/oidc/provider",
        json={
            "issuer": f"https://login.{seeded.slug}.example",
            "client_id": f"cxstack-{seeded.slug}",
            "client_secret": f"secret of {seeded.slug}",
        },
        headers=seeded.headers,
    )
    assert response.status_code == 200, response.text


#: Bodies for creation routes whose valid input the schema alone cannot tell.
BODY_RECIPES: dict[tuple[str, str], Callable[[Seeded], dict[str, Any]]] = {
    ("post", "/v1/customers"): customer_body,
    ("post", "/v1/customers/{customer_id}/identities"): identity_body,
    ("post", "/v1/channels/sms/numbers"): sms_number_body,
    ("post", "/v1/channels/email/inboxes"): lambda s: {"address": f"support@{s.slug}.example"},
    ("post", "/v1/sla/calendars"): lambda s: {
        "name": f"Office hours {s.slug}",
        "timezone": "Europe/Berlin",
        "hours": {"mon": [{"start": "09:00", "end": "17:00"}]},
    },
    ("post", "/v1/canned-responses"): lambda s: {
        "name": f"Greeting of {s.slug}",
        "shortcut": f"greeting-{s.slug}",
        "body": f"Hello {{{{customer.first_name}}}}, {s.slug} here.",
    },
    ("post", "/v1/sla/policies"): lambda s: {
        "name": f"Standard {s.slug}",
        "channel": "email",
        "first_response_seconds": 3600,
    },
}
#: Required query parameters the schema alone cannot fill, from a tenant's records.
QUERY_RECIPES: dict[str, Callable[[Seeded], dict[str, str]]] = {
    "/v1/customers/lookup": lambda s: {"kind": "email", "value": s.created["/v1/customers"][0]["email"]},
    "/v1/sla/at-risk": lambda s: {"within_seconds": "86400"},
}
#: Other writes that give GET routes something to show: (method, template, path values, body).
EXTRA_SEEDS: list[tuple[str, str, dict[str, str], dict[str, Any] | None]] = [
    ("put", "/v1/customers/{target_id}/tags/{tag}", {"tag": "{slug}-vip"}, None),
    ("put", "/v1/conversations/{target_id}/tags/{tag}", {"tag": "{slug}-billing"}, None),
    ("put", "/v1/cases/{target_id}/tags/{tag}", {"tag": "{slug}-refund"}, None),
]
#: Writes the API alone cannot make (a provider's signed webhook), run for each tenant after the others.
SEED_HOOKS: list[Callable[[httpx.AsyncClient, Seeded], Awaitable[None]]] = [
    seed_sms,
    seed_voice,
    seed_chat,
    seed_routing,
    seed_sla,
    seed_oidc,
]


def always_fails(uow: UnitOfWork, data: CustomerCreated, event: Event) -> None:
    raise RuntimeError("a handler that always fails, so that each tenant has a dead letter")


#: The fake Twilio Voice API voice recordings are copied from.
VOICE_FAKE = FakeTwilioCalls()


@pytest.fixture(scope="module")
def voice_fake_server() -> Iterator[FakeTwilioCallsServer]:
    server = FakeTwilioCallsServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, voice_fake_server: FakeTwilioCallsServer) -> Settings:
    """cxstack's settings with the voice channel fetching recordings from the fake Twilio."""
    global VOICE_FAKE
    VOICE_FAKE = voice_fake_server.state
    VOICE_FAKE.reset()
    return settings.model_copy(
        update={"voice": settings.voice.model_copy(update={"twilio_api_url": VOICE_FAKE.url})}
    )


@pytest.fixture
def subscriptions(settings: Settings) -> SubscriptionRegistry:
    registry = build_subscriptions(settings, files=local_file_store(settings.data_dir), routers=Routers())
    registry.add("tests.always_fails", EventHandlers({CustomerCreated: always_fails}))
    return registry


# -- walking the API --------------------------------------------------------------------------------


def fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"{([^}:]+)(?::[^}]*)?}", lambda m: values[m.group(1)], template)


def resolve(template: str, seeded: Seeded) -> dict[str, str] | None:
    """Choose a value from ``seeded``'s records for each path parameter of ``template``; None if it cannot."""
    values: dict[str, str] = {}
    segments = template.strip("/").split("/")
    for index, segment in enumerate(segments):
        match = re.fullmatch(r"{([^}:]+)(?::[^}]*)?}", segment)
        if match is None:
            continue
        name = match.group(1)
        collection_template = "/" + "/".join(segments[:index])
        collection = fill(collection_template, values)
        candidates = seeded.ids_at.get(collection) or seeded.ids_of.get(collection_template) or []
        if not candidates and name.endswith("_id"):
            found = Synthesiser({}).id_for(name, {}, seeded)
            candidates = [found] if found else []
        if not candidates and name in seeded.path_values:
            candidates = [seeded.path_values[name]]
        if not candidates:
            return None
        values[name] = candidates[0]
    return values


@dataclass
class Walk:
    client: httpx.AsyncClient
    runtime: Runtime
    schema: dict[str, Any]
    tenants: tuple[Seeded, Seeded]
    synthesiser: Synthesiser = field(init=False)
    exercised: set[str] = field(default_factory=set)
    unresolved: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    cross_requests: int = 0

    def __post_init__(self) -> None:
        self.synthesiser = Synthesiser(self.schema.get("components", {}).get("schemas", {}))

    def other(self, seeded: Seeded) -> Seeded:
        return self.tenants[1] if seeded is self.tenants[0] else self.tenants[0]

    async def get(self, seeded: Seeded, url: str, params: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.get(url, params=params, headers=seeded.headers)

    @property
    def gets(self) -> list[Operation]:
        return [op for op in operations(self.schema) if op.method == "get" and op.template not in EXEMPT]

    async def run(self) -> None:
        await self.seed()
        for seeded in self.tenants:
            assert seeded.ids_of.get("/v1/customers"), f"no customers were created for {seeded.slug}"
        await self.discover()
        for op in self.gets:
            if op.path_params:
                await self.check_item_route(op)
            else:
                await self.check_list_route(op)

    # seeding

    async def seed(self) -> None:
        creations = [op for op in operations(self.schema) if op.creates]
        for seeded in self.tenants:
            done: set[str] = set()
            for _ in range(4):  # later passes create what needs records of earlier ones
                for op in creations:
                    if op.template not in done and await self.create(op, seeded):
                        done.add(op.template)
            for method, template, path_values, body in EXTRA_SEEDS:
                if template not in self.schema["paths"]:
                    continue
                for name, value in path_values.items():
                    seeded.path_values[name] = value.format(slug=seeded.slug)
                values = resolve(template, seeded)
                if values is not None:
                    response = await self.client.request(
                        method, fill(template, values), json=body, headers=seeded.headers
                    )
                    assert response.status_code < 300, f"{method.upper()} {template}: {response.text}"
            for hook in SEED_HOOKS:
                await hook(self.client, seeded)
        await self.settle()

    async def create(self, op: Operation, seeded: Seeded) -> bool:
        values = resolve(op.template, seeded)
        if values is None:
            return False
        recipe = BODY_RECIPES.get((op.method, op.template))
        content = op.spec.get("requestBody", {}).get("content", {}).get("application/json", {})
        if recipe is not None:
            body: Any = recipe(seeded)
        elif "schema" in content:
            body = self.synthesiser.body(content["schema"], seeded)
            if body is MISSING:
                return False
        else:
            body = None
        path = fill(op.template, values)
        response = await self.client.post(path, json=body, headers=seeded.headers)
        if response.status_code >= 300:
            return False
        created = response.json()
        seeded.record(path, op.template, created)
        seeded.created.setdefault(op.template, []).append({**(body or {}), **created})
        seeded.seen |= ids_in(response.text)
        return True

    async def settle(self) -> None:
        """Deliver every event (projections, dead letters) before anything is read back."""
        if self.runtime.bus is None:
            return
        dead_letters = "/v1/dead-letters" in self.schema["paths"]
        async with asyncio.timeout(20):
            while True:
                await self.runtime.bus.drain()
                if not dead_letters:
                    return
                counts = [len((await self.get(s, "/v1/dead-letters")).json()["data"]) for s in self.tenants]
                if all(counts):
                    return
                await asyncio.sleep(0.05)

    # checks

    def leaks(self, seeded: Seeded, response: httpx.Response, *, asked: str) -> list[str]:
        """What of the other tenant's data ``response`` to ``seeded`` holds that it was not asked about."""
        other = self.other(seeded)
        theirs = (other.seen - seeded.seen) - ids_in(asked)
        found = [f"id {value}" for value in sorted(ids_in(response.text) & theirs)]
        if other.slug in response.text.lower() and other.slug not in asked.lower():
            found.append(f"the other tenant's name or data ({other.slug!r})")
        return found

    async def discover(self) -> None:
        """Read every list route as its owner so that ids only a list shows (dead letters) are known."""
        for op in operations(self.schema):
            if op.method != "get" or op.path_params:
                continue
            for seeded in self.tenants:
                params = self.list_params(op, seeded)
                if params is None:
                    continue
                response = await self.get(seeded, op.template, params)
                if response.status_code == 200:
                    # Only to find ids; what a list shows is checked, not trusted, so it is not ``seen``.
                    seeded.record(op.template, op.template, response.json())

    def list_params(self, op: Operation, source: Seeded) -> dict[str, str] | None:
        """Query parameters for a list route, values taken from ``source``; None if some cannot be filled."""
        recipe = QUERY_RECIPES.get(op.template)
        if recipe is not None:
            return recipe(source)
        params: dict[str, Any] = {}
        required = [p for p in op.query_params() if p.get("required")]
        for param in sorted(required, key=lambda p: str(p["name"]).endswith("_id")):
            value = self.synthesiser.value(param["name"], param.get("schema", {}), params, source)
            if value is MISSING:
                return None
            params[param["name"]] = str(value)
        return params

    async def check_item_route(self, op: Operation) -> None:
        for seeded in self.tenants:
            other = self.other(seeded)
            own, theirs = resolve(op.template, seeded), resolve(op.template, other)
            if own is None or theirs is None:
                self.unresolved[op.template] = "no records of this kind to ask for"
                return
            own_url = fill(op.template, own)
            response = await self.get(seeded, own_url)
            if response.status_code != 200:
                self.failures.append(
                    f"GET {own_url} as its owner: {response.status_code} {response.text[:300]}"
                )
                continue
            self.failures += [
                f"GET {own_url} by {seeded.slug} shows {leak}"
                for leak in self.leaks(seeded, response, asked=own_url)
            ]
            seeded.seen |= ids_in(response.text)
            variants = [{**own, name: theirs[name]} for name in own] + [dict(theirs)]
            for values in {tuple(v.items()): v for v in variants}.values():
                url = fill(op.template, values)
                self.cross_requests += 1
                answer = await self.get(seeded, url)
                if answer.status_code != 404 or answer.headers.get("content-type") != PROBLEM:
                    self.failures.append(
                        f"GET {url} by {seeded.slug} (ids of {other.slug}): {answer.status_code} "
                        f"{answer.text[:300]}"
                    )
                self.failures += [
                    f"GET {url} by {seeded.slug} shows {leak}"
                    for leak in self.leaks(seeded, answer, asked=url)
                ]
        self.exercised.add(op.template)

    async def check_list_route(self, op: Operation) -> None:
        for seeded in self.tenants:
            other = self.other(seeded)
            params = self.list_params(op, seeded)
            if params is None:
                self.unresolved[op.template] = "required query parameters it cannot fill; add a QUERY_RECIPE"
                return
            response = await self.get(seeded, op.template, params)
            asked = f"{op.template}?{httpx.QueryParams(params)}"
            if response.status_code != 200:
                self.failures.append(
                    f"GET {asked} as its owner: {response.status_code} {response.text[:300]}"
                )
                continue
            if not (ids_in(response.text) & seeded.seen or seeded.slug in response.text.lower()):
                self.failures.append(
                    f"GET {asked} shows {seeded.slug} none of its own records: {response.text[:300]}"
                )
            self.failures += [
                f"GET {asked} by {seeded.slug} shows {leak}"
                for leak in self.leaks(seeded, response, asked=asked)
            ]
            # The same list filtered by the other tenant's values must not show their rows either.
            probes: list[dict[str, str]] = []
            if params:
                probes.append(self.list_params(op, other) or {})
            for param in op.query_params():
                name = param["name"]
                if name.endswith("_id") or name == "subject":
                    value = self.synthesiser.id_for(
                        name if name.endswith("_id") else "customer_id", params, other
                    )
                    if value is not None:
                        probes.append({**params, name: value})
            for probe in probes:
                self.cross_requests += 1
                answer = await self.get(seeded, op.template, probe)
                asked = f"{op.template}?{httpx.QueryParams(probe)}"
                if answer.status_code >= 500:
                    self.failures.append(f"GET {asked} by {seeded.slug}: {answer.status_code}")
                self.failures += [
                    f"GET {asked} by {seeded.slug} shows {leak}"
                    for leak in self.leaks(seeded, answer, asked=asked)
                ]
        self.exercised.add(op.template)


async def test_no_get_route_shows_a_tenant_anything_of_another(
    runtime: Runtime, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    app = create_app(runtime, manage_runtime=False)
    schema = app.openapi()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cxstack.test"
    ) as client:
        walk = Walk(client, runtime, schema, (Seeded(tenant, "acme"), Seeded(other_tenant, "globex")))
        await walk.run()

    gets = {op.template for op in walk.gets}
    problems = [*walk.failures]
    problems += [f"{route}: not exercised, {why}; add a recipe" for route, why in walk.unresolved.items()]
    assert not problems, "tenant isolation not shown:\n" + "\n".join(problems)
    assert walk.exercised == gets
    assert len(walk.exercised) >= MIN_ROUTES_EXERCISED
    assert walk.cross_requests >= len(walk.exercised)
