"""``cxstack``: run the server, workers and migrations, and inspect the event backbone."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from cxstack.backbone.migrate import head_revision, upgrade
from cxstack.config import Settings
from cxstack.runtime import Runtime

app = typer.Typer(
    help="cxstack: an open-source customer-experience stack.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()


def load_settings() -> Settings:
    return Settings()


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Revision to migrate to.")) -> None:
    """Create or migrate the schema of the database in CXSTACK_DATABASE_URL."""
    settings = load_settings()

    async def run() -> None:
        runtime = Runtime.build(settings, run_bus=False)
        await runtime.db.start()
        try:
            await upgrade(runtime.db, revision)
        finally:
            await runtime.db.stop()

    asyncio.run(run())
    console.print(f"schema at {revision if revision != 'head' else head_revision()}")


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to listen on (CXSTACK_HOST, default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port to listen on (CXSTACK_PORT, default 8000)."),
    migrate: bool = typer.Option(True, help="Migrate the schema before serving."),
) -> None:
    """Serve the API (and, on the embedded driver, run the event handlers and timers)."""
    from cxstack.web.server import run_server

    settings = load_settings()
    run_server(settings, host=host or settings.host, port=port or settings.port, migrate=migrate)


if __name__ == "__main__":
    app()
