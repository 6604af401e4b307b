"""``cxstack tenants``, ``cxstack keys`` and ``cxstack operator-keys``: create and list tenants, issue,
list and revoke their API keys and the operators' keys.

Works on the database in ``CXSTACK_DATABASE_URL``, on either driver, beside running servers: a key revoked
here is refused by every server from its next request. Changes are audited as ``cli:<user>``.
"""

from __future__ import annotations

import getpass
import textwrap
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.text import Text
from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.cli.database import run_db
from cxstack.governance.tenants import operators, service
from cxstack.governance.tenants.schemas import SCOPES, ApiKeyOut, IssuedApiKey, OperatorKeyOut, TenantOut
from cxstack.kit.pagination import MAX_PAGE_SIZE, Page
from cxstack.runtime import Runtime

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

tenants_app = typer.Typer(help="Tenants: create and list them.", no_args_is_help=True)
keys_app = typer.Typer(
    help="Tenants' API keys: issue (with scopes), list and revoke them.", no_args_is_help=True
)
operator_keys_app = typer.Typer(
    help="Operators' keys for the /v1/operator API: issue, list and revoke them.", no_args_is_help=True
)

TenantOption = typer.Option(..., "--tenant", "-t", help="The tenant's id or slug.")
JsonOption = typer.Option(False, "--json", help="Print one JSON object a line.")


def cli_context() -> Context:
    """The unit of work's context for a change made from the command line (``cli:<user>``)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Context(actor=f"cli:{user}"[:120], source="cxstack/cli")


def _page_after(
    fetch: Callable[[Session, str | None], Page[T]], cursor: str | None
) -> Callable[[Session], Page[T]]:
    return lambda session: fetch(session, cursor)


def read_all(
    runtime: Runtime, fetch: Callable[[Session, str | None], Page[T]], limit: int
) -> Awaitable[list[T]]:
    """Read pages of ``fetch`` (of a session and a cursor) until ``limit`` items or the end."""

    async def pages() -> list[T]:
        items: list[T] = []
        cursor: str | None = None
        while len(items) < limit:
            page = await runtime.db.read(_page_after(fetch, cursor))
            items.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        return items[:limit]

    return pages()


def print_json(items: list[BaseModel]) -> None:
    for item in items:
        typer.echo(orjson.dumps(item.model_dump(mode="json")).decode())


def print_listing(
    items: Sequence[M],
    *,
    as_json: bool,
    columns: Sequence[str],
    row: Callable[[M], Sequence[str]],
    nothing: str,
    detail: Callable[[M], str] | None = None,
) -> None:
    """Print ``items`` one JSON object a line (``--json``), or a line per item under a header, the
    ``columns`` aligned and never cut (ids are copied from here), each item's ``detail`` (if any) dimmed
    on the lines below it, wrapped to the terminal; or ``nothing`` (dimmed) when there are none."""
    if as_json:
        print_json(list(items))
        return
    console = Console(highlight=False)
    if not items:
        console.print(Text(nothing, style="dim"))
        return
    rows = [tuple(row(item)) for item in items]
    widths = [max(len(column), *(len(cells[i]) for cells in rows)) for i, column in enumerate(columns)]

    def line(cells: Sequence[str], style: str = "") -> Text:
        return Text(
            "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip(), style
        )

    console.print(line(columns, "bold"), no_wrap=True, crop=False)
    for item, cells in zip(items, rows, strict=True):
        console.print(line(cells), no_wrap=True, crop=False)
        if detail is not None:
            indent = "    "
            for part in textwrap.wrap(
                detail(item), max(console.width, 24), initial_indent=indent, subsequent_indent=indent
            ):
                console.print(Text(part, style="dim"), no_wrap=True, crop=False)


def _key_history(key: ApiKeyOut | OperatorKeyOut) -> str:
    used = f"last used {when(key.last_used_at)}" if key.last_used_at else "never used"
    revoked = f" · revoked {when(key.revoked_at)}" if key.revoked_at else ""
    return f"created {when(key.created_at)} · {used}{revoked}"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _tenant_id(session: Session, tenant: str) -> str:
    return service.find_tenant(session, tenant=tenant).id


# -- tenants ------------------------------------------------------------------------------------------


@tenants_app.command("create")
def tenants_create(
    name: str = typer.Argument(..., help="The tenant's name (a company)."),
    slug: str = typer.Option(..., help="Its short unique name: lowercase letters, digits and dashes."),
    as_json: bool = JsonOption,
) -> None:
    """Create a tenant (audited in its log as tenant.created)."""

    async def work(runtime: Runtime) -> TenantOut:
        def create(uow: UnitOfWork) -> TenantOut:
            return TenantOut.model_validate(service.create_tenant(uow, name=name, slug=slug))

        return await runtime.db.write(create, context=cli_context())

    tenant = run_db(work)
    if as_json:
        print_json([tenant])
        return
    typer.echo(f"created tenant {tenant.id} ({tenant.slug})")


@tenants_app.command("list")
def tenants_list(
    limit: int = typer.Option(1000, min=1, help="Show at most this many, oldest first."),
    as_json: bool = JsonOption,
) -> None:
    """List tenants, oldest first."""

    async def work(runtime: Runtime) -> list[TenantOut]:
        return await read_all(
            runtime,
            lambda session, cursor: service.list_tenants(session, cursor=cursor, limit=MAX_PAGE_SIZE),
            limit,
        )

    print_listing(
        run_db(work),
        as_json=as_json,
        columns=("id", "slug", "name", "created"),
        row=lambda tenant: (tenant.id, tenant.slug, tenant.name, when(tenant.created_at)),
        nothing="no tenants",
    )


# -- tenants' keys ------------------------------------------------------------------------------------


def _print_secret(key: str, as_json: bool, issued: BaseModel, what: str) -> None:
    if as_json:
        print_json([issued])
        return
    typer.echo(f"issued {what}")
    typer.echo(f"key: {key}")
    typer.echo("This is the only time the key is shown: store it now. Lists show its prefix only.")


@keys_app.command("create")
def keys_create(
    tenant: str = TenantOption,
    name: str = typer.Option(..., help="What the key is for (an integration)."),
    scopes: list[str] | None = typer.Option(
        None, "--scope", "-s", help=f"A scope of the key, repeatable: {', '.join(SCOPES)} (default: all)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Issue an API key to a tenant and print its secret, once (audited as api_key.issued)."""

    async def work(runtime: Runtime) -> IssuedApiKey:
        def issue(uow: UnitOfWork) -> IssuedApiKey:
            tenant_id = _tenant_id(uow.session, tenant)
            return service.issue_api_key(uow, tenant_id=tenant_id, name=name, scopes=scopes or None)

        return await runtime.db.write(issue, context=cli_context())

    issued = run_db(work)
    _print_secret(
        issued.key, as_json, issued, f"key {issued.id} ({', '.join(issued.scopes)}) to {issued.tenant_id}"
    )


@keys_app.command("list")
def keys_list(
    tenant: str = TenantOption,
    limit: int = typer.Option(1000, min=1, help="Show at most this many, oldest first."),
    as_json: bool = JsonOption,
) -> None:
    """List a tenant's keys (revoked ones too): prefix, name, scopes, created, last used, revoked."""

    async def work(runtime: Runtime) -> list[ApiKeyOut]:
        tenant_id = await runtime.db.read(lambda session: _tenant_id(session, tenant))
        return await read_all(
            runtime,
            lambda session, cursor: service.list_api_keys(
                session, tenant_id=tenant_id, cursor=cursor, limit=MAX_PAGE_SIZE
            ),
            limit,
        )

    print_listing(
        run_db(work),
        as_json=as_json,
        columns=("id", "prefix", "name"),
        row=lambda key: (key.id, key.prefix + "…", key.name),
        detail=lambda key: f"scopes {' '.join(key.scopes)} · {_key_history(key)}",
        nothing="no keys",
    )


@keys_app.command("revoke")
def keys_revoke(
    key_ids: list[str] = typer.Argument(..., help="Ids of the tenant's keys (key_…)."),
    tenant: str = TenantOption,
) -> None:
    """Revoke keys of a tenant: every server refuses them from its next request (audited as
    api_key.revoked)."""

    async def work(runtime: Runtime) -> list[ApiKeyOut]:
        def revoke(uow: UnitOfWork) -> list[ApiKeyOut]:
            tenant_id = _tenant_id(uow.session, tenant)
            return [service.revoke_api_key(uow, tenant_id=tenant_id, api_key_id=key_id) for key_id in key_ids]

        return await runtime.db.write(revoke, context=cli_context())

    for key in run_db(work):
        typer.echo(f"{key.id} ({key.prefix}…, {key.name}) revoked at {when(key.revoked_at)}")


# -- operators' keys ----------------------------------------------------------------------------------


@operator_keys_app.command("create")
def operator_keys_create(
    name: str = typer.Option(..., help="Who or what the key is for."),
    as_json: bool = JsonOption,
) -> None:
    """Issue an operator key (for /v1/operator only) and print its secret, once."""

    async def work(runtime: Runtime) -> Any:
        return await runtime.db.write(
            lambda uow: operators.issue_operator_key(uow, name=name), context=cli_context()
        )

    issued = run_db(work)
    _print_secret(issued.key, as_json, issued, f"operator key {issued.id}")


@operator_keys_app.command("list")
def operator_keys_list(as_json: bool = JsonOption) -> None:
    """List operator keys (revoked ones too): prefix, name, created, last used, revoked."""

    async def work(runtime: Runtime) -> list[OperatorKeyOut]:
        return await runtime.db.read(operators.list_operator_keys)

    print_listing(
        run_db(work),
        as_json=as_json,
        columns=("id", "prefix", "name"),
        row=lambda key: (key.id, key.prefix + "…", key.name),
        detail=_key_history,
        nothing="no operator keys",
    )


@operator_keys_app.command("revoke")
def operator_keys_revoke(
    key_ids: list[str] = typer.Argument(..., help="Ids of operator keys (opk_…)."),
) -> None:
    """Revoke operator keys: every server refuses them from its next request."""

    async def work(runtime: Runtime) -> list[OperatorKeyOut]:
        def revoke(uow: UnitOfWork) -> list[OperatorKeyOut]:
            return [operators.revoke_operator_key(uow, operator_key_id=key_id) for key_id in key_ids]

        return await runtime.db.write(revoke, context=cli_context())

    for key in run_db(work):
        typer.echo(f"{key.id} ({key.prefix}…, {key.name}) revoked at {when(key.revoked_at)}")
