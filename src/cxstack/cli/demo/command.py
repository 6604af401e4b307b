"""The ``cxstack demo`` command: start the demo's providers, seed, print the guide and serve the API and
the inbound SMTP listener until Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape

from cxstack.channels.email.inbound import EmailIntake, InboundLimits
from cxstack.channels.email.smtp import SmtpListener
from cxstack.cli.demo.channels import DEMO_INBOX, cli_command
from cxstack.cli.demo.guide import print_guide, reachable
from cxstack.cli.demo.providers import DemoProviders
from cxstack.cli.demo.seeding import prepare_demo
from cxstack.cli.settings import load_settings
from cxstack.config import Settings
from cxstack.runtime import Runtime
from cxstack.web.app import create_app


def demo(
    host: str = typer.Option(None, help="Interface to listen on (CXSTACK_HOST, default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port to listen on (CXSTACK_PORT, default 8000)."),
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="Serve the API after seeding (--no-serve: only seed)."
    ),
) -> None:
    """Seed a demo tenant (customers, conversations on every channel, cases...) and serve the API.

    Uses the database in CXSTACK_DATABASE_URL (default: the file ./var/cxstack.db), migrating it first.
    Running it again adds nothing that is already there. The demo tenant's API key is fixed and public:
    cxk_demo_local_only_not_a_secret. Keep the demo to your own machine.

    Every channel works against stand-ins that run in this process: a small Twilio for SMS and calls, an
    SMTP server that keeps the email replies, and the inbound SMTP listener (CXSTACK_SMTP_PORT, 2525).
    Nothing leaves the machine.
    """
    import uvloop

    settings = load_settings()
    # Lines are never wrapped, so that the commands can be copied as they are.
    console = Console(soft_wrap=True, highlight=False)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(
            run_demo(
                settings, host=host or settings.host, port=port or settings.port, serve=serve, console=console
            )
        )


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then put back what was there."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def run_demo(settings: Settings, *, host: str, port: int, serve: bool, console: Console) -> None:
    """Start the demo's providers, point the channels at them, seed, print the guide and, with ``serve``,
    serve until Ctrl-C. The channels' settings are read from the environment: the providers' are set
    there for as long as this runs."""

    def heard(line: str) -> None:
        console.print(f"  [dim]sent[/dim] {escape(line)}")

    providers = DemoProviders(on_send=heard)
    await providers.start()
    try:
        public_url = f"http://{reachable(host)}:{port}"
        # The demo process performs the effects itself, also on the scale-out driver: other workers would
        # send to the real providers.
        environment = {
            **providers.environment(public_url=public_url),
            "CXSTACK_RUN_WORKERS_IN_SERVER": "true",
            # Served over plain HTTP on this machine: the session cookie cannot be HTTPS-only.
            "CXSTACK_AUTH_COOKIE_SECURE": "false",
            "CXSTACK_AUTH_PUBLIC_URL": public_url,
        }
        with _environment(environment):
            served = load_settings()
            report = await prepare_demo(served)
            print_guide(report, served, host=host, port=port, console=console)
            if not serve:
                console.print()
                console.print(f"Not serving (--no-serve): {escape(cli_command(settings))} demo serves it.")
                return
            console.print()
            console.print(
                f"Replies go to the demo's Twilio ({providers.twilio_url}) and SMTP server "
                f"(127.0.0.1:{providers.smtp_port}), which print them here; nothing leaves this machine."
            )
            await serve_demo(served, host=host, port=port, console=console)
    finally:
        await providers.stop()


async def _listen_for_email(settings: Settings, intake: EmailIntake, console: Console) -> SmtpListener | None:
    """Start the inbound SMTP listener at ``CXSTACK_SMTP_HOST``:``CXSTACK_SMTP_PORT``; None (and a line
    saying why) when the port is taken."""
    listener = SmtpListener(intake, host=settings.smtp_host, port=settings.smtp_port)
    try:
        await listener.start()
    except OSError as error:
        where = f"{settings.smtp_host}:{settings.smtp_port} (CXSTACK_SMTP_PORT)"
        console.print(f"[red]No inbound SMTP listener on {where}: {escape(str(error))}[/red]")
        return None
    return listener


class _DemoServer(uvicorn.Server):
    """uvicorn's server, stopped by SIGINT or SIGTERM through the running loop, so that the demo's clean-up
    (the runtime, the listener, the providers) runs to its end instead of being interrupted by the signal
    uvicorn would raise again once it stopped."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.handle_exit, signum, None)
        try:
            yield
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)


async def serve_demo(settings: Settings, *, host: str, port: int, console: Console) -> None:
    """Serve the API (with the handlers, timers and effects) and the inbound SMTP listener on one runtime
    until Ctrl-C or SIGTERM."""
    runtime = Runtime.build(settings)
    await runtime.start()
    try:
        intake = EmailIntake(
            runtime.db,
            runtime.services.files,
            InboundLimits(settings.email_max_message_bytes, settings.email_max_attachment_bytes),
        )
        listener = await _listen_for_email(settings, intake, console)
        if listener is not None:
            console.print(f"Email in: SMTP on {settings.smtp_host}:{listener.port} for {DEMO_INBOX}")
        config = uvicorn.Config(
            create_app(runtime, manage_runtime=False),
            host=host,
            port=port,
            http="httptools",
            access_log=False,
            ws_per_message_deflate=False,
            log_level=settings.log_level,
        )
        console.print(f"Serving on http://{reachable(host)}:{port} (Ctrl-C stops)")
        try:
            await _DemoServer(config).serve()
        finally:
            if listener is not None:
                await listener.stop()
    finally:
        await runtime.stop()
