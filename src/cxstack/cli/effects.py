"""``cxstack effects``: list effects (calls to the outside world after commit) and retry dead ones.

Works on the database in ``CXSTACK_DATABASE_URL``, on either driver, beside a running server: a retried
effect is performed by whichever process runs handlers.
"""

from __future__ import annotations

import asyncio
import getpass
from functools import partial
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cxstack.backbone.effects import STATUSES, EffectOut, count_effects, list_effects, retry_effect
from cxstack.backbone.errors import DomainError
from cxstack.backbone.subscriptions import SubscriptionRegistry
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.config import Settings
from cxstack.runtime import Runtime

effects_app = typer.Typer(
    help="Effects: calls to the outside world after commit. List them, retry dead ones.",
    no_args_is_help=True,
)


async def _with_db(work: Any) -> Any:
    runtime = Runtime.build(Settings(), subscriptions=SubscriptionRegistry(), run_bus=False)
    await runtime.db.start()
    try:
        return await work(runtime)
    finally:
        await runtime.db.stop()


def _run(work: Any) -> Any:
    try:
        return asyncio.run(_with_db(work))
    except DomainError as error:
        Console(stderr=True).print(f"[red]{escape(error.detail)}[/red]")
        raise typer.Exit(1) from None


def _json(effect: EffectOut) -> dict[str, Any]:
    return {
        "id": effect.id,
        "tenant_id": effect.tenant_id,
        "kind": effect.kind,
        "key": effect.key,
        "status": effect.status,
        "attempts": effect.attempts,
        "next_attempt_at": effect.next_attempt_at.isoformat(),
        "last_error": effect.last_error,
        "result": effect.result,
        "created_at": effect.created_at.isoformat(),
        "updated_at": effect.updated_at.isoformat(),
    }


@effects_app.command("list")
def effects_list(
    status: str | None = typer.Option(None, help=f"Only effects in this status ({', '.join(STATUSES)})."),
    kind: str | None = typer.Option(None, help="Only effects of this kind (sms.send...)."),
    tenant: str | None = typer.Option(None, help="Only this tenant's (its id)."),
    limit: int = typer.Option(100, min=1, max=1000, help="Show at most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object an effect."),
) -> None:
    """List effects, newest first, with a count per status."""

    async def work(runtime: Runtime) -> tuple[list[EffectOut], dict[str, int]]:
        found = await runtime.db.read(
            lambda session: list_effects(session, status=status, kind=kind, tenant_id=tenant, limit=limit)
        )
        return found, await runtime.db.read(count_effects)

    found, counts = _run(work)
    if as_json:
        for effect in found:
            typer.echo(orjson.dumps(_json(effect)).decode())
        return
    console = Console()
    console.print("  ".join(f"{name}: {counts.get(name, 0)}" for name in STATUSES))
    if not found:
        console.print("[dim]no effects[/dim]")
        return
    table = Table(header_style="bold")
    for column in ("id", "kind", "key", "tenant", "status", "attempts", "next attempt", "error"):
        table.add_column(column, justify="right" if column == "attempts" else "left")
    for effect in found:
        table.add_row(
            effect.id,
            effect.kind,
            effect.key,
            effect.tenant_id,
            effect.status,
            str(effect.attempts),
            effect.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(effect.last_error[:80]),
        )
    console.print(table)


def _retry(uow: UnitOfWork, *, effect_id: str) -> EffectOut:
    return retry_effect(uow, effect_id=effect_id)


@effects_app.command("retry")
def effects_retry(effect_ids: list[str] = typer.Argument(..., help="Ids of dead or failed effects.")) -> None:
    """Make dead or failed effects due again, their attempts counted afresh."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    context = Context(actor=f"cli:{user}"[:120], source="cxstack/cli")

    async def work(runtime: Runtime) -> list[EffectOut]:
        return [
            await runtime.db.write(partial(_retry, effect_id=effect_id), context=context)
            for effect_id in effect_ids
        ]

    for effect in _run(work):
        typer.echo(f"{effect.id} ({effect.kind} {effect.key}) is due again")
