"""``cxstack events``: follow the event log, replay subscriptions, inspect and retry dead letters.

Every command works on the database in ``CXSTACK_DATABASE_URL``, on either driver, beside a running server.
The subscriptions it knows are cxstack's own (``cxstack.wiring.build_subscriptions``) unless the click
context object is a ``SubscriptionRegistry`` (``CliRunner.invoke(app, args, obj=registry)`` or an
application embedding this CLI), which then replaces them.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, TypeVar

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from cxstack.backbone.consumer import Bus
from cxstack.backbone.delivery import reset_subscription
from cxstack.backbone.envelope import Event
from cxstack.backbone.inspection import (
    CloudEventOut,
    RetryOutcome,
    count_events,
    dead_letter_ids,
    events_after,
    get_dead_letter,
    list_dead_letters,
    recent_events,
    subscription_statuses,
)
from cxstack.backbone.log import head
from cxstack.backbone.subscriptions import Subscription, SubscriptionRegistry
from cxstack.backbone.unit_of_work import Context
from cxstack.cli.database import opened, run_command
from cxstack.cli.settings import load_settings
from cxstack.config import Settings
from cxstack.governance.operations.service import retry_dead_letter
from cxstack.governance.tenants.service import get_tenant_by_slug
from cxstack.kit.files import local_file_store
from cxstack.kit.pagination import MAX_PAGE_SIZE
from cxstack.routing.held import Routers
from cxstack.wiring import build_subscriptions

T = TypeVar("T")

#: How often ``events tail --follow`` looks for newly committed events.
POLL_INTERVAL_S = 0.5
FOLLOW_BATCH = 500

events_app = typer.Typer(
    help="The event backbone: follow the log, replay subscriptions, retry dead letters.",
    no_args_is_help=True,
)
dead_letters_app = typer.Typer(
    help="Deliveries that failed every attempt: list them, look at one, retry them.", no_args_is_help=True
)
events_app.add_typer(dead_letters_app, name="dead-letters")


def subscriptions_of(ctx: typer.Context, settings: Settings) -> SubscriptionRegistry:
    """Return the subscriptions the command works on: the context object's if it is a registry,
    cxstack's own (configured by ``settings``) otherwise."""
    given = ctx.find_object(SubscriptionRegistry)
    if given is not None:
        return given
    return build_subscriptions(settings, files=local_file_store(settings.data_dir), routers=Routers())


def _operator_context() -> Context:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Context(actor=f"cli:{user}"[:120], source="cxstack/cli")


def _tenant_id(session: Session, tenant: str | None) -> str | None:
    """Return the id of the tenant named by ``tenant``, which may be its id or its slug."""
    if tenant is None:
        return None
    found = get_tenant_by_slug(session, slug=tenant)
    return found.id if found is not None else tenant


def _json_line(value: Any) -> None:
    typer.echo(orjson.dumps(value).decode())


# -- tail ----------------------------------------------------------------------------------------


def _shorten(text: str, width: int) -> str:
    """Fit ``text`` in ``width`` characters, keeping its start and its end (where ids differ)."""
    if len(text) <= width:
        return text
    keep_start = min(4, max(1, width // 3))
    return text[:keep_start] + "…" + text[len(text) - (width - keep_start - 1) :]


def _preview(data: dict[str, Any], width: int) -> str:
    """Return the payload as ``key=value`` pairs, ids left out (the subject and --json show them)."""
    shown = {key: value for key, value in data.items() if not key.endswith("_id")} or data
    text = " ".join(f"{key}={orjson.dumps(value).decode()}" for key, value in shown.items())
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True, slots=True)
class EventColumns:
    """Column widths of the events table, fixed for a whole ``tail`` so that the rows of successive
    batches (``--follow``) line up."""

    widths: dict[str, int]

    #: The widest each column needs (ids are 30 characters), and the narrowest it may become.
    WIDEST: ClassVar[dict[str, int]] = {"seq": 7, "time": 19, "type": 28, "tenant": 30, "subject": 30}
    NARROWEST: ClassVar[dict[str, int]] = {"seq": 7, "time": 19, "type": 22, "tenant": 12, "subject": 12}
    DATA_WIDTH: ClassVar[tuple[int, int]] = (10, 20)  # the least it gets, the least it gets while shrinking

    @classmethod
    def fitting(cls, width: int, *, show_tenant: bool) -> EventColumns:
        """Return widths that fit ``width`` characters, shrinking ids first and dropping the tenant
        column if it still does not fit."""
        widths = {name: w for name, w in cls.WIDEST.items() if show_tenant or name != "tenant"}

        def excess() -> int:
            return sum(widths.values()) + len(widths) + cls.DATA_WIDTH[1] - width

        for name in ("tenant", "subject", "type"):
            if name in widths and excess() > 0:
                widths[name] -= min(excess(), widths[name] - cls.NARROWEST[name])
        if excess() > 0 and "tenant" in widths:
            del widths["tenant"]
        widths["data"] = max(cls.DATA_WIDTH[0], width - sum(widths.values()) - len(widths) - 1)
        return cls(widths)

    def table(self, events: Sequence[Event], *, header: bool) -> Table:
        table = Table(box=None, show_header=header, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0))
        styles = {"type": "cyan", "data": "dim"}
        titles = {"time": "time (UTC)"}
        for name, width in self.widths.items():
            table.add_column(
                titles.get(name, name),
                width=width,
                no_wrap=True,
                justify="right" if name == "seq" else "left",
                style=styles.get(name),
            )
        for event in events:
            cells = {
                "seq": str(event.seq),
                "time": event.time.strftime("%Y-%m-%d %H:%M:%S"),
                "type": _shorten(event.type, self.widths["type"]),
                "tenant": _shorten(event.tenant, self.widths.get("tenant", 0)),
                "subject": _shorten(event.subject, self.widths["subject"]),
                "data": _preview(event.data, self.widths["data"]),
            }
            table.add_row(*(escape(cells[name]) for name in self.widths))
        return table


@events_app.command("tail")
def tail(
    ctx: typer.Context,
    types: list[str] = typer.Option(
        [], "--type", "-t", help="Only events of this type, e.g. customer.created (repeatable)."
    ),
    tenant: str | None = typer.Option(None, help="Only this tenant's events (its id or its slug)."),
    subject: str | None = typer.Option(None, help="Only events about this subject (a customer id...)."),
    last: int = typer.Option(20, "--last", "-n", min=0, help="How many past events to show first."),
    follow: bool = typer.Option(
        False, "--follow/--no-follow", "-f", help="Keep printing events as they are committed (Ctrl-C stops)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print each event as a CloudEvents JSON line."),
) -> None:
    """Print the newest events of the log (oldest first), and with --follow every new one."""
    settings = load_settings()
    registry = subscriptions_of(ctx, settings)
    console = Console()
    # A tail of one tenant does not repeat its id on every row.
    columns = EventColumns.fitting(console.width, show_tenant=tenant is None)
    printed_header = False

    def show(events: Sequence[Event]) -> None:
        nonlocal printed_header
        if as_json:
            for event in events:
                _json_line(CloudEventOut.of(event).model_dump(mode="json", exclude_none=True))
        elif events:
            console.print(columns.table(events, header=not printed_header))
            printed_header = True

    async def work() -> None:
        async with opened(settings, registry) as runtime:
            db = runtime.db

            def past(session: Session) -> tuple[str | None, int, list[Event]]:
                tenant_id = _tenant_id(session, tenant)
                newest = head(session)
                if not last:
                    return tenant_id, newest, []
                shown = recent_events(session, tenant_id=tenant_id, types=types, subject=subject, limit=last)
                return tenant_id, newest, shown

            tenant_id, position, shown = await db.read(past)
            shown.reverse()
            show(shown)
            if not shown and not follow and not as_json:
                console.print("[dim]no events[/dim]")
            position = max([position, *(event.seq for event in shown)])
            # Ctrl-C or SIGTERM ends the loop between reads: the runtime then closes as on any other exit.
            stopping = asyncio.Event()
            if follow:
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(signum, stopping.set)
            while follow and not stopping.is_set():
                new = await db.read(
                    partial(
                        events_after,
                        tenant_id=tenant_id,
                        after=position,
                        types=types,
                        subject=subject,
                        limit=FOLLOW_BATCH,
                    )
                )
                if new:
                    show(new)
                    position = new[-1].seq
                if len(new) < FOLLOW_BATCH:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), POLL_INTERVAL_S)

    try:
        run_command(work)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


# -- subscriptions and replay --------------------------------------------------------------------


@events_app.command("subscriptions")
def subscriptions(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object a subscription."),
) -> None:
    """List the subscriptions with their position, lag, parked and dead deliveries.

    position: every event up to this seq has been read; head: the newest event's seq; lag: events of
    the subscription's types it has not read yet; parked: deliveries waiting for a retry; dead: dead
    letters.
    """
    settings = load_settings()
    registry = subscriptions_of(ctx, settings)

    async def work() -> list[Any]:
        async with opened(settings, registry) as runtime:
            partitions = runtime.db.partitions
            return await runtime.db.read(
                lambda session: subscription_statuses(session, registry=registry, partitions=partitions)
            )

    statuses = run_command(work)
    if as_json:
        for status in statuses:
            _json_line(
                {
                    "name": status.name,
                    "types": sorted(status.types),
                    "position": status.position,
                    "head": status.head,
                    "lag": status.lag,
                    "parked": status.parked,
                    "dead": status.dead,
                }
            )
        return
    console = Console()
    if not statuses:
        console.print("[dim]no subscriptions are registered[/dim]")
        return
    table = Table(header_style="bold")
    for column in ("subscription", "position", "head", "lag", "parked", "dead", "types"):
        table.add_column(column, justify="left" if column == "subscription" else "right")
    for status in statuses:
        table.add_row(
            status.name,
            str(status.position),
            str(status.head),
            str(status.lag),
            f"[yellow]{status.parked}[/yellow]" if status.parked else "0",
            f"[red]{status.dead}[/red]" if status.dead else "0",
            str(len(status.types)),
        )
    console.print(table)
    console.print("[dim]--json lists each subscription's event types[/dim]")


def _known_subscription(registry: SubscriptionRegistry, name: str) -> Subscription:
    try:
        return registry.get(name)
    except KeyError:
        known = ", ".join(sorted(subscription.name for subscription in registry)) or "none"
        Console(stderr=True).print(f"[red]No subscription named {escape(name)!r}.[/red] Known: {known}")
        raise typer.Exit(2) from None


@events_app.command("replay")
def replay(
    ctx: typer.Context,
    subscription: str = typer.Argument(..., help="Name of the subscription to replay."),
    from_seq: int = typer.Option(
        0, "--from-seq", min=0, help="Deliver the events after this seq (0: the whole log)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Rebuild a subscription from the event log, with a progress bar.

    Drops what the subscription built (its reset hook), its processed ids and parked deliveries, then
    delivers the log to it again in this process until it has caught up. A server running beside it
    keeps working; the subscription still handles each event once.
    """
    settings = load_settings()
    registry = subscriptions_of(ctx, settings)
    chosen = _known_subscription(registry, subscription)
    if not yes:
        typer.confirm(
            f"Replay {chosen.name}: drop what it built and deliver the log after seq {from_seq} to it again?",
            abort=True,
        )
    console = Console()

    async def work() -> tuple[int, int, int]:
        async with opened(settings, registry) as runtime:
            db = runtime.db
            total = await db.read(lambda session: count_events(session, after=from_seq, types=chosen.types))
            await db.write(
                lambda uow: reset_subscription(uow, subscription=chosen, to_seq=from_seq),
                context=_operator_context(),
            )
            bus = Bus(
                db,
                registry,
                policy=runtime.retry_policy,
                batch_size=runtime.settings.dispatch_batch_size,
                run_timers=False,
            )
            delivered = 0
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task(f"replaying {chosen.name}", total=total)
                while (read := await bus.deliver_once(chosen)) > 0:
                    delivered += read
                    progress.update(task, completed=delivered, total=max(total, delivered))
            partitions = db.partitions
            statuses = await db.read(
                lambda session: subscription_statuses(session, registry=registry, partitions=partitions)
            )
            status = next(s for s in statuses if s.name == chosen.name)
            return delivered, status.parked, status.dead

    delivered, parked, dead = run_command(work)
    console.print(f"replayed [bold]{delivered}[/bold] events to {chosen.name}")
    if parked or dead:
        console.print(
            f"[yellow]{parked} deliveries wait for a retry and {dead} are dead letters[/yellow]: "
            "see `cxstack events dead-letters list`"
        )


# -- dead letters --------------------------------------------------------------------------------


@dead_letters_app.command("list")
def dead_letters_list(
    ctx: typer.Context,
    subscription: str | None = typer.Option(None, help="Only this subscription's dead letters."),
    tenant: str | None = typer.Option(None, help="Only this tenant's (its id or its slug)."),
    limit: int = typer.Option(100, min=1, max=MAX_PAGE_SIZE, help="Show at most this many, oldest first."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object a dead letter."),
) -> None:
    """List dead letters: deliveries that failed every attempt, oldest first."""
    settings = load_settings()
    registry = subscriptions_of(ctx, settings)

    async def work() -> Any:
        async with opened(settings, registry) as runtime:
            return await runtime.db.read(
                lambda session: list_dead_letters(
                    session, tenant_id=_tenant_id(session, tenant), subscription=subscription, limit=limit
                )
            )

    page = run_command(work)
    if as_json:
        for item in page.items:
            _json_line(item.model_dump(mode="json"))
        return
    console = Console()
    if not page.items:
        console.print("[dim]no dead letters[/dim]")
        return
    table = Table(header_style="bold")
    for column in ("id", "subscription", "event", "seq", "subject", "tenant", "attempts", "dead at", "error"):
        table.add_column(column, justify="right" if column in ("id", "seq", "attempts") else "left")
    for item in page.items:
        table.add_row(
            str(item.id),
            item.subscription,
            item.event_type,
            str(item.event_seq),
            item.subject,
            item.tenant_id,
            str(item.attempts),
            item.dead_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"[red]{escape(item.error)}[/red]",
        )
    console.print(table)
    if page.next_cursor is not None:
        console.print(f"[dim]more than {limit}; raise --limit or narrow with --subscription/--tenant[/dim]")


@dead_letters_app.command("show")
def dead_letters_show(
    ctx: typer.Context,
    dead_letter_id: int = typer.Argument(..., metavar="ID", help="The dead letter's id (see `list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print it as one JSON object."),
) -> None:
    """Show a dead letter: its event as CloudEvents JSON, its attempts and the traceback of the last."""
    settings = load_settings()
    registry = subscriptions_of(ctx, settings)

    async def work() -> Any:
        async with opened(settings, registry) as runtime:
            return await runtime.db.read(
                lambda session: get_dead_letter(session, tenant_id=None, dead_letter_id=dead_letter_id)
            )

    detail = run_command(work)
    if as_json:
        _json_line(detail.model_dump(mode="json"))
        return
    console = Console()
    console.print(f"[bold]dead letter {detail.id}[/bold]")
    for label, value in (
        ("subscription", detail.subscription),
        ("event", f"{detail.event_type} {detail.event_id} (seq {detail.event_seq})"),
        ("subject", detail.subject),
        ("tenant", detail.tenant_id),
        ("attempts", str(detail.attempts)),
        ("first failed", detail.created_at.isoformat()),
        ("dead since", detail.dead_at.isoformat()),
    ):
        console.print(f"  {label:<13} {escape(value)}")
    console.print("[bold]event[/bold]")
    if detail.event is not None:
        console.print_json(orjson.dumps(detail.event.model_dump(mode="json", exclude_none=True)).decode())
    else:
        console.print("[red]not in the log[/red]")
    console.print("[bold]last error[/bold]")
    console.print(escape(detail.last_error), style="red", highlight=False)


def _print_outcome(console: Console, outcome: RetryOutcome, *, traceback: bool) -> None:
    if outcome.succeeded:
        console.print(
            f"[green]dead letter {outcome.dead_letter_id} delivered[/green] to {outcome.subscription} "
            f"(event {outcome.event_id})"
        )
        return
    error = outcome.error or ""
    last = next((line for line in reversed(error.strip().splitlines()) if line.strip()), "")
    console.print(
        f"[red]dead letter {outcome.dead_letter_id} failed again[/red] "
        f"(attempt {outcome.attempts}): {escape(last.strip())}"
    )
    if traceback:
        console.print(escape(error), style="dim", highlight=False)


@dead_letters_app.command("retry")
def dead_letters_retry(
    ctx: typer.Context,
    dead_letter_id: int | None = typer.Argument(
        None, metavar="ID", help="The dead letter to retry (or use --all)."
    ),
    retry_all: bool = typer.Option(False, "--all", help="Retry every dead letter (narrow with the filters)."),
    subscription: str | None = typer.Option(None, help="With --all: only this subscription's."),
    tenant: str | None = typer.Option(None, help="With --all: only this tenant's (its id or its slug)."),
) -> None:
    """Run a dead letter's handler once more now (or every one with --all).

    A retry that succeeds removes the dead letter; one that fails keeps it with the new error and ends
    with exit code 1. Each retry is its own transaction and is audited.
    """
    if (dead_letter_id is None) == (not retry_all):
        raise typer.BadParameter("give either a dead letter ID or --all")
    if dead_letter_id is not None and (subscription or tenant):
        raise typer.BadParameter("--subscription and --tenant narrow --all only")
    settings = load_settings()
    registry = subscriptions_of(ctx, settings)
    console = Console()

    async def work() -> list[RetryOutcome]:
        async with opened(settings, registry) as runtime:
            db = runtime.db
            if dead_letter_id is not None:
                ids = [dead_letter_id]
            else:
                ids = await db.read(
                    lambda session: dead_letter_ids(
                        session, tenant_id=_tenant_id(session, tenant), subscription=subscription
                    )
                )
            outcomes = []
            for one in ids:
                outcome = await db.write(
                    partial(
                        retry_dead_letter,
                        registry=registry,
                        policy=runtime.retry_policy,
                        tenant_id=None,
                        dead_letter_id=one,
                    ),
                    context=_operator_context(),
                )
                _print_outcome(console, outcome, traceback=dead_letter_id is not None)
                outcomes.append(outcome)
            return outcomes

    outcomes = run_command(work)
    failed = sum(1 for outcome in outcomes if not outcome.succeeded)
    if retry_all:
        console.print(f"retried {len(outcomes)}: {len(outcomes) - failed} delivered, {failed} failed again")
    if failed:
        raise typer.Exit(1)
