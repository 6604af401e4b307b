"""The settings of a command, read from the environment once, where the command starts."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from cxstack import config
from cxstack.config import InvalidSettings, Settings
from cxstack.kit.logs import configure_logs


def load_settings() -> Settings:
    """Return the settings the environment gives, the process's logs set to their level; a variable set
    to a value its setting refuses ends the command (exit code 2) with a message naming the variable."""
    try:
        settings = config.load_settings()
    except InvalidSettings as error:
        Console(stderr=True, soft_wrap=True).print(f"[red]{escape(str(error))}[/red]")
        raise typer.Exit(2) from None
    configure_logs(settings.log_level)
    return settings
