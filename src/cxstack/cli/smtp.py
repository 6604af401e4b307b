"""``cxstack smtp``: the inbound SMTP listener of the email channel, as a process of its own."""

from __future__ import annotations

import asyncio
import signal

from rich.console import Console

from cxstack.channels.email.inbound import EmailIntake, InboundLimits
from cxstack.channels.email.smtp import SmtpListener
from cxstack.config import Settings
from cxstack.runtime import Runtime

console = Console()


def run_smtp(settings: Settings, *, host: str, port: int) -> None:
    """Listen for mail until SIGINT or SIGTERM. Events it writes are handled by ``serve`` or ``worker``."""

    async def main() -> None:
        runtime = Runtime.build(settings, run_bus=False)
        await runtime.db.start()
        intake = EmailIntake(
            runtime.db,
            runtime.services.files,
            InboundLimits(settings.email_max_message_bytes, settings.email_max_attachment_bytes),
        )
        listener = SmtpListener(intake, host=host, port=port)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        try:
            await listener.start()
            console.print(f"cxstack smtp listening on {host}:{listener.port}")
            await stopping.wait()
        finally:
            await listener.stop()
            await runtime.db.stop()

    asyncio.run(main())
