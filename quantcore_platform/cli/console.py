"""Output helpers shared by the command modules."""

import time

import typer
from rich.console import Console

from quantcore.settings import Settings

console = Console(stderr=True, soft_wrap=True, highlight=False)


def say(line: str) -> None:
    """One progress line on stderr, never wrapped (logs and tests grep them)."""
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {line}")


def settings_of(ctx: typer.Context) -> Settings:
    """The settings built once by the top-level callback (with --home applied)."""
    return ctx.obj
