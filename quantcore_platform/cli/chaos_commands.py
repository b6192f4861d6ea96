"""`quantcore chaos`: kill -9 components of a running platform one at a time and judge it."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from quantcore_platform.chaos.runner import check_components, run_chaos
from quantcore_platform.chaos.verdict import COMPONENTS, table
from quantcore_platform.cli.apps import app
from quantcore_platform.cli.console import say, settings_of, stdout_console


@app.command()
def chaos(ctx: typer.Context,
          components: list[str] = typer.Argument(None, help=f"What to kill, in order (default: {' '.join(COMPONENTS)})."),
          timeout_s: float = typer.Option(120.0, "--timeout", min=5, help="Seconds to wait for a recovery."),
          pause_s: float = typer.Option(None, "--pause", min=1, max=3600, metavar="SECONDS",
                                        help="Freeze each component this long (SIGSTOP, then SIGCONT) instead of "
                                             "killing it: a long outage; times count from when it is let go."),
          as_json: bool = typer.Option(False, "--json", help="Machine-readable outcomes.")) -> None:
    """Against a running platform: kill -9 each component, and report how soon every symbol
    updates at a gRPC client again, and whether any symbol regressed, any Kafka chain has a
    gap or duplicate, or any acknowledged record was lost (exit 1 if so, or not recovered)."""
    chosen = check_components(components or [])
    outcomes = run_chaos(settings_of(ctx), chosen, timeout_s, report=say, pause_s=pause_s)
    if as_json:
        print(json.dumps([{**o.__dict__, "chain": o.chain.__dict__} for o in outcomes], indent=2))
    else:
        header, *rows = table(outcomes)
        fault = "kill -9" if pause_s is None else f"SIGSTOP for {pause_s:g} s"
        printed = Table(title=f"{fault}, one component at a time (back: working again; signals: every symbol at a "
                              f"client; no kill: the same measure undisturbed)")
        for column in header:
            printed.add_column(column)
        for row in rows:
            printed.add_row(*row)
        stdout_console.print(printed)
    raise typer.Exit(0 if all(o.recovered and o.lossless for o in outcomes) else 1)
