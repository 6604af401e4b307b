"""``cxstack effects``: list effects (calls to the outside world after commit) and retry dead ones.

Works on the database in ``CXSTACK_DATABASE_URL``, on either driver, beside a running server: a retried
effect is performed by whichever process runs handlers.
"""

from __future__ import annotations

import getpass
import textwrap
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cxstack.backbone.effects import STATUSES, EffectOut, count_effects, list_effects, retry_effect
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.cli.database import run_db
from cxstack.runtime import Runtime

effects_app = typer.Typer(
    help="Effects: calls to the outside world after commit. List them, retry dead ones.",
    no_args_is_help=True,
)


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


def _when(at: datetime, now: datetime) -> str:
    """A moment as a short distance from now: ``due``, ``in 40s``, ``in 3m``, ``in 2h``, ``in 4d``."""
    seconds = (at - now).total_seconds()
    if seconds <= 0:
        return "due"
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "m")):
        if seconds >= size:
            return f"in {int(seconds // size)}{unit}"
    return f"in {int(seconds)}s"


#: How a status reads in the narrow list.
_STATUS_STYLE = {"done": "green", "dead": "bold red", "failed": "red", "running": "cyan", "pending": "yellow"}
_DUE = ("pending", "running")


def _narrow_list(found: list[EffectOut], now: datetime, width: int) -> list[Text]:
    """One line per effect (id, kind, status, attempts, when it runs next), its last error on the lines
    below, indented and wrapped to ``width``: the id stays whole, for ``cxstack effects retry``."""
    headers = ("id", "kind", "status", "tries", "next")
    rows = [
        (e.id, e.kind, e.status, str(e.attempts), _when(e.next_attempt_at, now) if e.status in _DUE else "")
        for e in found
    ]
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]

    def line(cells: tuple[str, ...], styles: tuple[str, ...]) -> Text:
        text = Text()
        for index, (cell, style) in enumerate(zip(cells, styles, strict=True)):
            last = index == len(cells) - 1
            padded = cell.rjust(widths[index]) if headers[index] == "tries" else cell.ljust(widths[index])
            text.append(cell if last else padded + "  ", style=style)
        text.rstrip()
        return text

    lines = [line(headers, ("bold",) * len(headers))]
    for effect, row in zip(found, rows, strict=True):
        lines.append(line(row, ("", "", _STATUS_STYLE.get(effect.status, ""), "", "")))
        error = " ".join(effect.last_error.split())
        if error:
            indent = "    "
            wrapped = textwrap.wrap(error, max(width, 24), initial_indent=indent, subsequent_indent=indent)
            lines.extend(Text(part, style="dim" if effect.status in _DUE else "") for part in wrapped)
    return lines


def _wide_table(found: list[EffectOut]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for column in ("id", "kind", "key", "tenant", "status", "attempts", "next attempt", "created", "error"):
        table.add_column(
            column,
            justify="right" if column == "attempts" else "left",
            overflow="fold",
            no_wrap=column in ("status", "attempts"),
        )
    for effect in found:
        table.add_row(
            effect.id,
            effect.kind,
            escape(effect.key),
            effect.tenant_id,
            effect.status,
            str(effect.attempts),
            effect.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S"),
            effect.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(" ".join(effect.last_error.split())),
        )
    return table


@effects_app.command("list")
def effects_list(
    status: str | None = typer.Option(None, help=f"Only effects in this status ({', '.join(STATUSES)})."),
    kind: str | None = typer.Option(None, help="Only effects of this kind (sms.send...)."),
    tenant: str | None = typer.Option(None, help="Only this tenant's (its id)."),
    limit: int = typer.Option(100, min=1, max=1000, help="Show at most this many, newest first."),
    wide: bool = typer.Option(
        False, "--wide", help="Every column (key, tenant, times, the whole error), however wide."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object an effect, every field."),
) -> None:
    """List effects, newest first, with a count per status.

    By default each effect shows its id, kind, status, attempts, and when it runs next (pending) or why
    its last attempt failed; --wide adds the key, tenant and times, --json prints every field.
    """

    async def work(runtime: Runtime) -> tuple[list[EffectOut], dict[str, int]]:
        found = await runtime.db.read(
            lambda session: list_effects(session, status=status, kind=kind, tenant_id=tenant, limit=limit)
        )
        return found, await runtime.db.read(count_effects)

    found, counts = run_db(work)
    if as_json:
        for effect in found:
            typer.echo(orjson.dumps(_json(effect)).decode())
        return
    console = Console(highlight=False)
    console.print("  ".join(f"{name}: {counts.get(name, 0)}" for name in STATUSES))
    if not found:
        console.print("[dim]no effects[/dim]")
        return
    if wide:
        console.print(_wide_table(found))
        return
    for line in _narrow_list(found, datetime.now(UTC), console.width):
        console.print(line, no_wrap=True, crop=False)


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

    for effect in run_db(work):
        typer.echo(f"{effect.id} ({effect.kind} {effect.key}) is due again")
