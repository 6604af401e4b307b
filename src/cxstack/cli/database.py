"""Opening the configured database for one command: the schema must be there, and what goes wrong ends the
command with a line on stderr and exit status 1 (not a traceback)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from cxstack.backbone.migrate import current_revision
from cxstack.backbone.subscriptions import SubscriptionRegistry
from cxstack.cli.settings import load_settings
from cxstack.config import Settings
from cxstack.kit.errors import DomainError
from cxstack.runtime import Runtime

T = TypeVar("T")


class SchemaMissing(Exception):
    """The database has no cxstack schema yet."""


@asynccontextmanager
async def opened(settings: Settings, registry: SubscriptionRegistry | None = None) -> AsyncIterator[Runtime]:
    """Yield a started runtime without a bus on the database of ``settings`` (with ``registry``'s
    subscriptions, none by default); raises SchemaMissing."""
    runtime = Runtime.build(settings, subscriptions=registry or SubscriptionRegistry(), run_bus=False)
    await runtime.db.start()
    try:
        if await current_revision(runtime.db) is None:
            raise SchemaMissing()
        yield runtime
    finally:
        await runtime.db.stop()


def run_command(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` to completion; a domain error or a missing schema ends the command with exit status 1."""
    errors = Console(stderr=True)
    try:
        return asyncio.run(work())
    except SchemaMissing:
        errors.print("[red]The database has no cxstack schema.[/red] Run `cxstack db upgrade` first.")
        raise typer.Exit(1) from None
    except DomainError as error:
        where = f" ({error.field})" if error.field else ""
        errors.print(f"[red]{escape(error.detail)}{escape(where)}[/red]")
        raise typer.Exit(1) from None


def run_db(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``work`` on the configured database (``run_command``'s errors)."""

    async def on_database() -> T:
        async with opened(load_settings()) as runtime:
            return await work(runtime)

    return run_command(on_database)
