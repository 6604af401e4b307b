"""The OpenAPI document describes what the server does: credentials, errors, typed pages, webhook bodies
and formats; a client generated from it type-checks, and schemathesis finds the server keeps to it."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from tests.channels.webchat.conftest import serving
from tests.conftest import TenantKey

from cxstack.config import Settings
from cxstack.runtime import Runtime
from cxstack.web.app import create_app

PROBLEM = "application/problem+json"
METHODS = ("get", "put", "post", "patch", "delete")
BIN = Path(sys.executable).parent

later = APIRouter(prefix="/v1", tags=["added later"])


@later.post("/widgets/{widget_id}")
async def added_later(widget_id: str, data: dict[str, str]) -> dict[str, str]:
    """A route of a router that cxstack's own list does not know."""
    return {"widget_id": widget_id, **data}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The document the app serves (built from its routes: no database needed)."""
    folder = tmp_path_factory.mktemp("spec")
    runtime = Runtime.build(
        Settings(database_url=f"sqlite:///{folder / 'x.db'}", data_dir=folder / "data"), run_bus=False
    )
    document: dict[str, Any] = create_app(runtime, manage_runtime=False).openapi()
    return document


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_every_operation_declares_its_errors_as_problem_json(spec: dict[str, Any]) -> None:
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])
    assert "correlation_id" in problem["properties"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    count = 0
    for path, method, operation in operations(spec):
        count += 1
        responses = operation["responses"]
        expected = {"400", "404", "422", "500"}
        if method != "get":
            expected.add("409")
        if method in ("post", "put", "patch"):
            expected |= {"413", "415"}
        if "security" in operation:
            expected |= {"401", "403"}
        assert expected <= set(responses), (method, path, sorted(responses))
        for status, answer in responses.items():
            assert "X-Correlation-Id" in answer["headers"], (method, path, status)
            if status[0] in "45":
                assert answer["content"] == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}, (
                    method,
                    path,
                    status,
                )
    assert count > 60


def test_security_schemes_say_which_credentials_each_route_takes(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["ApiKey"]["description"],
    }
    assert schemes["TwilioSignature"]["name"] == "X-Twilio-Signature"
    assert {schemes[name]["name"] for name in ("AppKey", "AppUserId", "AppUserHash")} == {
        "X-App-Key",
        "X-User-Id",
        "X-User-Hash",
    }
    paths = spec["paths"]
    assert paths["/v1/customers"]["get"]["security"] == [
        {"ApiKey": []},
        {"ApiKeyHeader": []},
        {"SessionCookie": []},
    ]
    # A person's cookie needs the session's CSRF token on writes.
    assert paths["/v1/customers"]["post"]["security"][-1] == {"SessionCookie": [], "CsrfToken": []}
    assert schemes["SessionCookie"] == {**schemes["SessionCookie"], "in": "cookie", "name": "cxstack_session"}
    assert paths["/v1/auth/me"]["get"]["security"] == [{"SessionCookie": []}]
    assert paths["/v1/auth/sign-out"]["post"]["security"] == [{"SessionCookie": [], "CsrfToken": []}]
    # Signing in and resetting a password take no credentials, and say so.
    public = ("/v1/auth/sign-in", "/v1/auth/password-reset", "/v1/auth/password-reset/confirm")
    for path in public:
        assert paths[path]["post"]["security"] == [], path
    assert "423" in paths["/v1/auth/sign-in"]["post"]["responses"]
    # So do the OIDC sign-in's redirects, which may also find the provider unreachable.
    oidc = ("/v1/auth/oidc/{tenant_slug}/start", "/v1/auth/oidc/callback")
    for path in oidc:
        assert paths[path]["get"]["security"] == [], path
        assert "502" in paths[path]["get"]["responses"], path
    assert {"303", "423"} <= set(paths["/v1/auth/oidc/callback"]["get"]["responses"])
    assert "302" in paths["/v1/auth/oidc/{tenant_slug}/start"]["get"]["responses"]
    assert paths["/v1/auth/oidc/provider"]["put"]["security"][-1] == {"SessionCookie": [], "CsrfToken": []}
    public += oidc
    assert paths["/v1/inapp/messages"]["post"]["security"] == [
        {"AppKey": [], "AppUserId": [], "AppUserHash": []}
    ]
    assert paths["/hooks/sms/twilio"]["post"]["security"] == [{"TwilioSignature": []}]
    assert paths["/hooks/voice/twilio/incoming"]["post"]["security"] == [{"TwilioSignature": []}]
    # Every route of the API says which credentials it takes.
    for path, _method, operation in operations(spec):
        if path.startswith(("/v1/", "/hooks/sms/", "/hooks/voice/")) and path not in public:
            assert operation.get("security"), path
            for requirement in operation["security"]:
                assert set(requirement) <= set(schemes), path


def test_list_routes_answer_typed_pages(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    page = schemas["CustomerPage"]
    assert page["required"] == ["data", "next_cursor"]
    assert page["properties"]["data"]["items"] == {"$ref": "#/components/schemas/CustomerOut"}
    assert {"type": "string", "format": "cursor"} in page["properties"]["next_cursor"]["anyOf"]
    pages = 0
    for path, method, operation in operations(spec):
        for status, answer in operation["responses"].items():
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            # No route answers an untyped object any more.
            assert schema.get("additionalProperties") is not True, (method, path, status)
            assert schema != {"type": "object"}, (method, path, status)
            if schema.get("$ref", "").endswith("Page"):
                pages += 1
                name = schema["$ref"].rsplit("/", 1)[1]
                assert schemas[name]["properties"]["data"]["items"]["$ref"].endswith("Out")
                names = {parameter["name"] for parameter in operation["parameters"]}
                assert {"cursor", "limit"} <= names, path
    assert pages >= 15
    assert spec["paths"]["/v1/accounts/{account_id}/customers"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"] == {"$ref": "#/components/schemas/CustomerPage"}


def test_webhook_and_upload_bodies_are_declared(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    sms = paths["/hooks/sms/twilio"]["post"]["requestBody"]["content"]
    assert list(sms) == ["application/x-www-form-urlencoded"]
    voice = paths["/hooks/voice/twilio/status"]["post"]["requestBody"]["content"]
    assert list(voice) == ["application/x-www-form-urlencoded"]
    email = paths["/hooks/email/inbound"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"recipient", "sender", "body-mime", "timestamp", "token", "signature"} <= set(email["properties"])
    upload = paths["/widget/v1/uploads"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload["properties"]["file"]["format"] == "binary"
    assert "406" in paths["/hooks/email/inbound"]["post"]["responses"]


def test_formats_are_declared(spec: dict[str, Any]) -> None:
    parameters = {p["name"]: p["schema"] for p in spec["paths"]["/v1/customers"]["get"]["parameters"]}
    for name in ("cursor", "email", "phone", "tag"):
        assert {"type": "string", "format": name} in parameters[name]["anyOf"], name
    created = spec["components"]["schemas"]["CustomerCreate"]["properties"]
    assert {"type": "string", "format": "email"} in [
        {k: v for k, v in option.items() if k in ("type", "format")} for option in created["email"]["anyOf"]
    ]
    assert any(option.get("format") == "phone" for option in created["phone"]["anyOf"])
    tag = spec["paths"]["/v1/tags/{tag}"]["put"]["parameters"][0]
    assert tag["schema"]["format"] == "tag"


async def test_a_route_of_any_router_gets_the_same_checks_and_description(
    runtime: Runtime, tenant: TenantKey
) -> None:
    app = create_app(runtime, manage_runtime=False, extra_routers=[later])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cxstack.test") as http:
        document = (await http.get("/openapi.json")).json()
        responses = document["paths"]["/v1/widgets/{widget_id}"]["post"]["responses"]
        assert {"400", "404", "409", "413", "415", "422", "500"} <= set(responses)
        refused = await http.post("/v1/widgets/w1", json={"name": "a\u0000"})
        assert refused.status_code == 422 and refused.json()["field"] == "name"
        assert "x-correlation-id" in refused.headers
        too_big = await http.post("/v1/widgets/w1", json={"name": "a" * 2_000_000})
        assert too_big.status_code == 413
        wrong_type = await http.post(
            "/v1/widgets/w1", content=b"name=a", headers={"content-type": "text/plain"}
        )
        assert wrong_type.status_code == 415
        fine = await http.post("/v1/widgets/w1", json={"name": "a"})
        assert fine.status_code == 200 and fine.json() == {"widget_id": "w1", "name": "a"}


async def _run(*command: str, cwd: Path, timeout_s: float) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd), "NO_COLOR": "1"},
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        raise
    return process.returncode or 0, output.decode(errors="replace")


@pytest.mark.contract
@pytest.mark.timeout(300)
async def test_a_client_generated_from_the_document_builds_and_type_checks(
    spec: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "openapi.json").write_text(json.dumps(spec))
    code, output = await _run(
        str(BIN / "openapi-python-client"),
        "generate",
        "--path",
        "openapi.json",
        "--output-path",
        "cxstack_client",
        "--meta",
        "none",
        cwd=tmp_path,
        timeout_s=180,
    )
    assert code == 0, output
    package = tmp_path / "cxstack_client"
    assert (package / "models" / "customer_page.py").exists()
    page = (package / "models" / "customer_page.py").read_text()
    assert "data: list[CustomerOut]" in page
    # The generator's own client.py passes *args: object to httpx's typed __exit__ (an upstream template
    # issue, the same for any document); everything generated from our document is checked strictly.
    (tmp_path / "mypy.ini").write_text(
        "[mypy]\nstrict = True\n\n[mypy-cxstack_client.client]\ndisable_error_code = arg-type\n"
    )
    code, output = await _run(
        str(BIN / "mypy"), "--config-file", "mypy.ini", "cxstack_client", cwd=tmp_path, timeout_s=240
    )
    assert code == 0, output


def test_conditional_writes_declare_if_match_its_412_and_the_etag(spec: dict[str, Any]) -> None:
    for path in ("/v1/customers/{customer_id}", "/v1/accounts/{account_id}"):
        patch, get = spec["paths"][path]["patch"], spec["paths"][path]["get"]
        assert [p["in"] for p in patch["parameters"] if p["name"] == "If-Match"] == ["header"], path
        assert patch["responses"]["412"]["content"] == {
            PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
        assert "ETag" in patch["responses"]["200"]["headers"] and "ETag" in get["responses"]["200"]["headers"]
        assert "412" not in get["responses"], path
    for collection in ("/v1/customers", "/v1/accounts"):
        assert "ETag" in spec["paths"][collection]["post"]["responses"]["201"]["headers"], collection
    taking = {path for path, method, operation in operations(spec) if "412" in operation["responses"]}
    assert taking == {"/v1/customers/{customer_id}", "/v1/accounts/{account_id}"}


#: Failures that say the server broke its document (ST1xx: server errors, undocumented statuses, content
#: types, response bodies or headers) or its resources' rules (ST3xx, ST4xx). ST2xx (a request the schema
#: allows refused, or the reverse) are listed but not counted: the schema cannot say everything the
#: server checks (a phone number that exists, a tag name's characters).
BROKEN = re.compile(r'"code":\s*"(ST[134]\d\d)"')


@pytest.mark.contract
@pytest.mark.timeout(600)
async def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
    runtime: Runtime, tenant: TenantKey, tmp_path: Path
) -> None:
    app = create_app(runtime, manage_runtime=False)
    async with serving(app) as url:
        code, output = await _run(
            str(BIN / "schemathesis"),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "3",
            "--workers",
            "2",
            "--no-shrink",
            "--seed",
            "20261207",
            "--header",
            f"Authorization: Bearer {tenant.key}",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            "report.ndjson",
            cwd=tmp_path,
            timeout_s=540,
        )
    report = (tmp_path / "report.ndjson").read_text()
    assert '"EngineFinished"' in report, output[-5000:]
    broken = sorted(set(BROKEN.findall(report)))
    assert broken == [], output[-20000:]
    assert "Server error" not in output, output[-20000:]
    assert '"FatalError"' not in report and '"NonFatalError"' not in report, output[-20000:]
    assert code in (0, 1), output[-5000:]
