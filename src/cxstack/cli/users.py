"""``cxstack users`` and ``cxstack teams``: add a tenant's people, list and disable them; create and list
its teams.

Works on the database in ``CXSTACK_DATABASE_URL``, beside running servers: a user disabled here is
signed out of every server at once. Changes are audited as ``cli:<user>``.
"""

from __future__ import annotations

import sys

import typer

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.cli.database import run_db
from cxstack.cli.tenants import (
    JsonOption,
    TenantOption,
    cli_context,
    print_json,
    print_listing,
    read_all,
    when,
)
from cxstack.governance.staff import service
from cxstack.governance.staff.passwords import generate_password, hash_password
from cxstack.governance.staff.schemas import ROLES, TeamOut, UserOut
from cxstack.governance.tenants.service import find_tenant
from cxstack.kit.pagination import MAX_PAGE_SIZE
from cxstack.runtime import Runtime

users_app = typer.Typer(help="A tenant's people: add, list and disable them.", no_args_is_help=True)


@users_app.command("create")
def users_create(
    tenant: str = TenantOption,
    email: str = typer.Option(..., "--email", help="Their email: what they sign in with."),
    name: str = typer.Option(..., "--name", help="Their name."),
    role: str = typer.Option(..., "--role", help=f"One of {', '.join(ROLES)}."),
    teams: list[str] | None = typer.Option(None, "--team", help="A team to join, by name; repeatable."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input instead of generating one."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Add a user to a tenant and print a generated password, once (audited as user.created)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        generated = False
    else:
        password = generate_password()
        generated = True

    async def work(runtime: Runtime) -> UserOut:
        hashed = hash_password(password)

        def create(uow: UnitOfWork) -> UserOut:
            tenant_id = find_tenant(uow.session, tenant=tenant).id
            team_ids = service.find_team_ids(uow.session, tenant_id=tenant_id, names=teams or [])
            return service.create_user(
                uow,
                tenant_id=tenant_id,
                email=email,
                name=name,
                role=role,
                team_ids=team_ids,
                password=hashed,
            )

        return await runtime.db.write(create, context=cli_context())

    user = run_db(work)
    if as_json:
        print_json([user])
    else:
        typer.echo(f"created {user.role} {user.id} ({user.email})")
    if generated:
        typer.echo(f"password: {password}", err=as_json)
        typer.echo("This is the only time the password is shown: hand it over now.", err=as_json)


@users_app.command("list")
def users_list(
    tenant: str = TenantOption,
    limit: int = typer.Option(1000, min=1, help="Show at most this many, oldest first."),
    as_json: bool = JsonOption,
) -> None:
    """List a tenant's users (disabled ones too): email, role, name, teams, created, disabled."""

    async def work(runtime: Runtime) -> list[UserOut]:
        tenant_id = await runtime.db.read(lambda session: find_tenant(session, tenant=tenant).id)
        return await read_all(
            runtime,
            lambda session, cursor: service.list_users(
                session, tenant_id=tenant_id, cursor=cursor, limit=MAX_PAGE_SIZE
            ),
            limit,
        )

    def detail(user: UserOut) -> str:
        teams = f"teams {' '.join(user.team_ids)}" if user.team_ids else "no team"
        disabled = f" · disabled {when(user.disabled_at)}" if user.disabled_at else ""
        return f"{user.name} · {teams} · created {when(user.created_at)}{disabled}"

    print_listing(
        run_db(work),
        as_json=as_json,
        columns=("id", "email", "role"),
        row=lambda user: (user.id, user.email, user.role + (" (disabled)" if user.disabled_at else "")),
        detail=detail,
        nothing="no users",
    )


@users_app.command("disable")
def users_disable(
    email: str = typer.Argument(..., help="The user's email."),
    tenant: str = TenantOption,
) -> None:
    """Disable a user: their sessions end at once and they can no longer sign in (audited as
    user.disabled)."""

    async def work(runtime: Runtime) -> UserOut:
        def disable(uow: UnitOfWork) -> UserOut:
            tenant_id = find_tenant(uow.session, tenant=tenant).id
            user = service.find_user_by_email(uow.session, tenant_id=tenant_id, email=email)
            return service.disable_user(uow, tenant_id=tenant_id, user_id=user.id)

        return await runtime.db.write(disable, context=cli_context())

    user = run_db(work)
    typer.echo(f"{user.id} ({user.email}) disabled at {when(user.disabled_at)}")


teams_app = typer.Typer(help="A tenant's teams: create and list them.", no_args_is_help=True)


@teams_app.command("create")
def teams_create(
    name: str = typer.Argument(..., help="The team's name (unique in the tenant)."),
    tenant: str = TenantOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a team (audited as team.created)."""

    async def work(runtime: Runtime) -> TeamOut:
        def create(uow: UnitOfWork) -> TeamOut:
            tenant_id = find_tenant(uow.session, tenant=tenant).id
            return service.create_team(uow, tenant_id=tenant_id, name=name)

        return await runtime.db.write(create, context=cli_context())

    team = run_db(work)
    if as_json:
        print_json([team])
        return
    typer.echo(f"created team {team.id} ({team.name})")


@teams_app.command("list")
def teams_list(
    tenant: str = TenantOption,
    limit: int = typer.Option(1000, min=1, help="Show at most this many, oldest first."),
    as_json: bool = JsonOption,
) -> None:
    """List a tenant's teams and how many members each has."""

    async def work(runtime: Runtime) -> list[TeamOut]:
        tenant_id = await runtime.db.read(lambda session: find_tenant(session, tenant=tenant).id)
        return await read_all(
            runtime,
            lambda session, cursor: service.list_teams(
                session, tenant_id=tenant_id, cursor=cursor, limit=MAX_PAGE_SIZE
            ),
            limit,
        )

    print_listing(
        run_db(work),
        as_json=as_json,
        columns=("id", "name", "members"),
        row=lambda team: (team.id, team.name, str(len(team.member_ids))),
        nothing="no teams",
    )
