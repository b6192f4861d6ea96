"""Output helpers shared by the command modules."""

import os
import sys
import time

import typer
from rich.console import Console

from quantcore.settings import Settings


class SurvivingStream:
    """A text stream that outlives its reader: once a write fails (the pipe closed, e.g.
    `quantcore up | tee log` after Ctrl-C killed tee), further output goes nowhere instead
    of raising in the middle of a start-up or a shutdown that must finish."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lost = False

    @property
    def _target(self):
        return getattr(sys, self._name)

    def write(self, text: str) -> int:
        if self._lost:
            return len(text)
        try:
            return self._target.write(text)
        except OSError:
            self._lose()
            return len(text)

    def flush(self) -> None:
        if not self._lost:
            try:
                self._target.flush()
            except OSError:
                self._lose()

    def _lose(self) -> None:
        self._lost = True
        try:  # the interpreter's final flush of the dead stream must not fail either
            setattr(sys, self._name, open(os.devnull, "w"))
        except OSError:
            pass

    def isatty(self) -> bool:
        return not self._lost and self._target.isatty()

    def fileno(self) -> int:
        return self._target.fileno()


console = Console(file=SurvivingStream("stderr"), soft_wrap=True, highlight=False)
stdout_console = Console(file=SurvivingStream("stdout"), soft_wrap=True)


def say(line: str) -> None:
    """One progress line on stderr, never wrapped (logs and tests grep them)."""
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {line}")


def settings_of(ctx: typer.Context) -> Settings:
    """The settings built once by the top-level callback (with --home applied)."""
    return ctx.obj
