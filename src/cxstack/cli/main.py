"""``cxstack``: run the server, workers and migrations, and inspect the event backbone."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from cxstack.backbone.migrate import head_revision, upgrade
from cxstack.cli.audit import audit_app
from cxstack.cli.demo import demo
from cxstack.cli.effects import effects_app
from cxstack.cli.email import email_app
from cxstack.cli.events import events_app
from cxstack.cli.settings import load_settings
from cxstack.cli.simulate import simulate_command
from cxstack.cli.tenants import keys_app, operator_keys_app, tenants_app
from cxstack.cli.users import teams_app, users_app
from cxstack.runtime import Runtime

app = typer.Typer(
    help="cxstack: an open-source customer-experience stack.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(events_app, name="events")
app.add_typer(effects_app, name="effects")
app.add_typer(email_app, name="email")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(operator_keys_app, name="operator-keys")
app.add_typer(users_app, name="users")
app.add_typer(teams_app, name="teams")
app.add_typer(audit_app, name="audit")
app.command("demo")(demo)
app.command("simulate")(simulate_command)
console = Console()


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
    """Serve the API, and the event handlers and timers (embedded driver) or the relay to NATS (scale-out)."""
    from cxstack.web.server import run_server

    settings = load_settings()
    run_server(settings, host=host or settings.host, port=port or settings.port, migrate=migrate)


@app.command()
def worker() -> None:
    """Run the event handlers and timers (scale-out driver: PostgreSQL and NATS JetStream).

    Start any number of workers: they share the log's partitions through leases in the database.

    A worker that stops hands its partitions over at once.

    Those of a worker that dies are taken over when its leases expire (CXSTACK_LEASE_SECONDS).

    Stop with Ctrl-C or SIGTERM.
    """
    from cxstack.runtime import WORKER_NEEDS_SCALE_OUT, run_worker

    settings = load_settings()
    if not settings.is_scale_out:
        console.print(f"[red]{WORKER_NEEDS_SCALE_OUT}[/red]")
        raise typer.Exit(2)
    run_worker(settings)


@app.command()
def smtp(
    host: str = typer.Option(None, help="Interface to listen on (CXSTACK_SMTP_HOST, default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port to listen on (CXSTACK_SMTP_PORT, default 2525)."),
) -> None:
    """Receive email over SMTP for the tenants' inbox addresses (others are refused with 550).

    Point your domain's MX record (or your mail server's relay) at this listener. Stop with Ctrl-C or SIGTERM.
    """
    from cxstack.cli.smtp import run_smtp

    settings = load_settings()
    run_smtp(settings, host=host or settings.smtp_host, port=port if port is not None else settings.smtp_port)


if __name__ == "__main__":
    app()
