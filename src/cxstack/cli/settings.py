"""The settings of a command, read from the environment once, where the command starts."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from cxstack import config
from cxstack.config import InvalidSettings, Settings


def load_settings() -> Settings:
    """Return the settings the environment gives; a variable set to a value its setting refuses ends the
    command (exit code 2) with a message naming the variable."""
    try:
        return config.load_settings()
    except InvalidSettings as error:
        Console(stderr=True, soft_wrap=True).print(f"[red]{escape(str(error))}[/red]")
        raise typer.Exit(2) from None
