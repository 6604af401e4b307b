"""``cxstack users``: adding, listing and disabling a tenant's people from the command line, against the
database a server uses; the password printed once signs the user in there."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.cli.test_tenants_cli import invoke, lines
from typer.testing import CliRunner

from cxstack.cli.main import app
from cxstack.config import Settings
from cxstack.runtime import Runtime
from cxstack.web.app import create_app


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CXSTACK_DATABASE_URL", database_url)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["tenants", "create", "Acme", "--slug", "acme"]).exit_code == 0
    return runner


def sign_in(database_url: str, email: str, password: str) -> httpx.Response:
    """Sign in on a server on the same database, as a browser would."""

    async def run() -> httpx.Response:
        runtime = Runtime.build(Settings(database_url=database_url), run_bus=False)
        await runtime.db.start()
        try:
            transport = httpx.ASGITransport(app=create_app(runtime, manage_runtime=False))
            async with httpx.AsyncClient(transport=transport, base_url="https://cxstack.test") as http:
                return await http.post(
                    "/v1/auth/sign-in", json={"tenant": "acme", "email": email, "password": password}
                )
        finally:
            await runtime.db.stop()

    return asyncio.run(run())


def test_users_are_created_listed_and_disabled_from_the_command_line(
    cli: CliRunner, database_url: str
) -> None:
    assert "created team team_" in invoke(cli, "teams", "create", "--tenant", "acme", "Support")
    shown = invoke(
        cli,
        "users",
        "create",
        "--tenant",
        "acme",
        "--email",
        "Ana@Acme.example",
        "--name",
        "Ana Diaz",
        "--role",
        "agent",
        "--team",
        "Support",
    )
    password = next(line.split()[1] for line in shown.splitlines() if line.startswith("password: "))
    assert "created agent usr_" in shown and "only time" in shown and len(password) >= 12
    assert sign_in(database_url, "ana@acme.example", password).status_code == 200

    chosen = cli.invoke(
        app,
        [
            "users",
            "create",
            "--tenant",
            "acme",
            "--email",
            "bo@acme.example",
            "--name",
            "Bo",
            "--role",
            "admin",
            "--password-stdin",
            "--json",
        ],
        input="my own long password\n",
    )
    assert chosen.exit_code == 0, chosen.output
    assert "password:" not in chosen.output
    assert lines(chosen.output)[0]["role"] == "admin"
    assert sign_in(database_url, "bo@acme.example", "my own long password").status_code == 200

    listed = lines(invoke(cli, "users", "list", "--tenant", "acme", "--json"))
    assert [(user["email"], user["role"], len(user["team_ids"])) for user in listed] == [
        ("ana@acme.example", "agent", 1),
        ("bo@acme.example", "admin", 0),
    ]
    table = invoke(cli, "users", "list", "--tenant", "acme")
    assert all(len(line) <= 80 for line in table.splitlines()), table
    assert "ana@acme.example" in table and "Ana Diaz" in table

    assert "disabled at" in invoke(cli, "users", "disable", "--tenant", "acme", "ANA@acme.example")
    assert sign_in(database_url, "ana@acme.example", password).status_code == 401
    assert "(disabled)" in invoke(cli, "users", "list", "--tenant", "acme")
    [team] = lines(invoke(cli, "teams", "list", "--tenant", "acme", "--json"))
    assert team["name"] == "Support" and team["member_ids"] == [listed[0]["id"]]
    entries = invoke(cli, "audit", "list", "--tenant", "acme", "--json")
    assert '"user.disabled"' in entries and '"cli:' in entries


def test_bad_input_ends_the_command_with_a_line_naming_the_problem(cli: CliRunner) -> None:
    base = ["users", "create", "--tenant", "acme", "--email", "cy@acme.example", "--name", "Cy"]
    assert "unknown role" in invoke(cli, *base, "--role", "owner", code=1)
    assert "no team is named" in invoke(cli, *base, "--role", "agent", "--team", "Nope", code=1)
    short = cli.invoke(app, [*base, "--role", "agent", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    invoke(cli, *base, "--role", "agent")
    assert "already exists" in invoke(cli, *base, "--role", "agent", code=1)
    assert "no user has the email" in invoke(
        cli, "users", "disable", "--tenant", "acme", "x@acme.example", code=1
    )
    assert [user["email"] for user in lines(invoke(cli, "users", "list", "--tenant", "acme", "--json"))] == [
        "cy@acme.example"
    ]
