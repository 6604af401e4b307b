"""``cxstack tenants``, ``keys``, ``operator-keys`` and ``audit``: managing tenants and keys from the
command line, against the database a server uses."""

from __future__ import annotations

import asyncio
import getpass
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from cxstack.cli.main import app
from cxstack.config import Settings
from cxstack.runtime import Runtime
from cxstack.web.app import create_app


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CXSTACK_DATABASE_URL", database_url)
    runner = CliRunner()
    migrated = runner.invoke(app, ["db", "upgrade"])
    assert migrated.exit_code == 0, migrated.output
    return runner


def invoke(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def lines(output: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in output.splitlines()]


def get(database_url: str, url: str, key: str) -> httpx.Response:
    """GET ``url`` from a server on the same database, as a client would."""

    async def run() -> httpx.Response:
        runtime = Runtime.build(Settings(database_url=database_url), run_bus=False)
        await runtime.db.start()
        try:
            server = create_app(runtime, manage_runtime=False)
            transport = httpx.ASGITransport(app=server)
            async with httpx.AsyncClient(transport=transport, base_url="http://cxstack.test") as http:
                answer = await http.get(url, headers={"Authorization": f"Bearer {key}"})
            await runtime.services.key_usage.drain()  # as the server does when it stops
            return answer
        finally:
            await runtime.db.stop()

    return asyncio.run(run())


def test_tenants_and_keys_are_created_listed_and_revoked_from_the_command_line(
    cli: CliRunner, database_url: str
) -> None:
    [tenant] = lines(invoke(cli, "tenants", "create", "Acme Corp", "--slug", "acme", "--json"))
    assert (tenant["name"], tenant["slug"]) == ("Acme Corp", "acme")
    assert "acme" in invoke(cli, "tenants", "list")

    shown = invoke(cli, "keys", "create", "--tenant", "acme", "--name", "crm sync", "--scope", "read")
    secret = next(line.split()[1] for line in shown.splitlines() if line.startswith("key: "))
    assert secret.startswith("cxk_") and "only time" in shown
    [key] = lines(invoke(cli, "keys", "list", "--tenant", tenant["id"], "--json"))
    assert secret not in str(key) and "key" not in key
    assert (key["name"], key["prefix"], key["scopes"]) == ("crm sync", secret[:10], ["read"])
    assert key["last_used_at"] is None and key["revoked_at"] is None
    table = invoke(cli, "keys", "list", "--tenant", "acme")
    assert secret[:10] in table and secret not in table
    # Readable at 80 columns, the id whole on its line (it is what `keys revoke` takes).
    assert all(len(line) <= 80 for line in table.splitlines()), table
    assert any(line.startswith(key["id"]) and "crm sync" in line for line in table.splitlines()), table
    assert "scopes read" in table and "never used" in table

    assert get(database_url, "/v1/customers", secret).status_code == 200
    assert get(database_url, "/v1/audit", secret).status_code == 403  # read only

    assert "revoked" in invoke(cli, "keys", "revoke", key["id"], "--tenant", "acme")
    refused = get(database_url, "/v1/customers", secret)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    [listed] = lines(invoke(cli, "keys", "list", "--tenant", "acme", "--json"))
    assert listed["revoked_at"] is not None and listed["last_used_at"] is not None

    audit = lines(invoke(cli, "audit", "list", "--tenant", "acme", "--json"))
    assert [(e["action"], e["target_id"]) for e in audit] == [
        ("api_key.revoked", key["id"]),
        ("api_key.issued", key["id"]),
        ("tenant.created", tenant["id"]),
    ]
    assert {e["actor"] for e in audit} == {f"cli:{getpass.getuser()}"}
    only = lines(invoke(cli, "audit", "list", "--tenant", "acme", "--action", "tenant.created", "--json"))
    assert [e["action"] for e in only] == ["tenant.created"]
    assert lines(invoke(cli, "audit", "list", "--tenant", "acme", "--since", "2999-01-01", "--json")) == []
    assert "api_key.revoked" in invoke(cli, "audit", "list", "--tenant", "acme", "--subject", key["id"])


def test_operator_keys_are_issued_listed_and_revoked_from_the_command_line(
    cli: CliRunner, database_url: str
) -> None:
    [issued] = lines(invoke(cli, "operator-keys", "create", "--name", "on-call", "--json"))
    assert issued["key"].startswith("cxo_")
    assert get(database_url, "/v1/operator/tenants", issued["key"]).status_code == 200
    assert get(database_url, "/v1/customers", issued["key"]).status_code == 401
    [listed] = lines(invoke(cli, "operator-keys", "list", "--json"))
    assert listed["id"] == issued["id"] and "key" not in listed and issued["key"] not in str(listed)
    invoke(cli, "operator-keys", "revoke", issued["id"])
    assert get(database_url, "/v1/operator/tenants", issued["key"]).status_code == 401


def test_bad_input_on_the_command_line_names_the_problem_and_writes_nothing(cli: CliRunner) -> None:
    invoke(cli, "tenants", "create", "Acme", "--slug", "acme")
    assert "already exists" in invoke(cli, "tenants", "create", "Acme 2", "--slug", "acme", code=1)
    assert "slug" in invoke(cli, "tenants", "create", "Bad", "--slug", "Not A Slug", code=1)
    unknown_scope = invoke(cli, "keys", "create", "-t", "acme", "--name", "x", "--scope", "delete", code=1)
    assert "unknown scope 'delete'" in unknown_scope
    assert "does not exist" in invoke(cli, "keys", "create", "-t", "nosuch", "--name", "x", code=1)
    assert "does not exist" in invoke(cli, "keys", "revoke", "key_nosuch", "-t", "acme", code=1)
    assert lines(invoke(cli, "keys", "list", "-t", "acme", "--json")) == []
    bad_time = invoke(cli, "audit", "list", "-t", "acme", "--since", "yesterday", code=2)
    assert "--since" in bad_time and "ISO 8601" in bad_time


@pytest.mark.parametrize(
    "command",
    [
        ("tenants", "create", "Acme Corp", "--slug", "acme"),
        ("keys", "list", "--tenant", "acme"),
        ("operator-keys", "list"),
        ("audit", "list", "--tenant", "acme"),
        ("effects", "list"),
    ],
)
def test_commands_on_a_database_without_schema_say_to_upgrade(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.setenv("CXSTACK_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = CliRunner().invoke(app, list(command))
    assert result.exit_code == 1, result.output
    assert "no cxstack schema" in result.output and "cxstack db upgrade" in result.output
    assert "Traceback" not in result.output
