"""`quantcore replay` and `quantcore maintain`: Kafka -> Delta, and Delta housekeeping."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from quantcore_platform.cli.apps import app
from quantcore_platform.cli.console import console, say, settings_of
from quantcore.errors import PlatformError


@app.command()
def replay(ctx: typer.Context,
           all_days: bool = typer.Option(False, "--all", help="Every day Kafka still holds (offset 0 to latest)."),
           day: str = typer.Option(None, "--date", help="One UTC day, YYYY-MM-DD."),
           days: str = typer.Option(None, "--dates", help="Days in one Spark run: A..B or A,B,C."),
           allow_partial: bool = typer.Option(False, "--allow-partial",
                                              help="Also write days that Kafka's retention has cut."),
           as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")) -> None:
    """Replay the book topic into Delta: books_raw, book_signals, books_quarantine (idempotent per day),
    and the trade topic's same days into trades, trades_quarantine.
    Exit 1 when Kafka's retention had already dropped part of a requested day."""
    from streaming.spark.replay_job import run_replay
    from streaming.spark.replay_offsets import parse_days

    if sum((all_days, day is not None, days is not None)) != 1:
        raise PlatformError("say what to replay", "pass exactly one of --all, --date YYYY-MM-DD, --dates A..B")
    wanted = None if all_days else parse_days(day or days)
    settings = settings_of(ctx)
    say(f"replaying {'every day' if wanted is None else f'{len(wanted)} day(s)'} of {settings.kafka.book_topic} "
        f"into {settings.paths.delta_root}")
    result = run_replay(settings, wanted, allow_partial=allow_partial)
    if as_json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        _print_result(result)
    if not result.complete:
        cut = ", ".join(sorted({m["date"] for m in result.missing_ranges}))
        console.print(f"[red]Kafka's retention had already dropped part of {cut}[/red]; "
                      f"{'written partially' if allow_partial else 'those days were left untouched'}")
        raise typer.Exit(1)


def _print_result(result) -> None:
    table = Table(title=f"replay of {result.topic} ({result.seconds:.1f}s)")
    for column in ("day", "kafka records", "books_raw", "book_signals", "quarantined", "trades",
                   "trades quarantined"):
        table.add_column(column, justify="right", min_width=10 if column == "day" else None)
    for day in result.days:
        rows = [str(result.rows_by_day[name].get(day, "-")) for name in ("books_raw", "book_signals",
                                                                         "books_quarantine")]
        trades = [str(result.trades.get("rows_by_day", {}).get(name, {}).get(day, "-"))
                  for name in ("trades", "trades_quarantine")]
        table.add_row(day, str(result.kafka_records.get(day, 0)), *rows, *trades)
    Console(soft_wrap=True).print(table)
    if result.trades.get("note"):
        say(result.trades["note"])
    if result.trades.get("skipped_days"):
        say(f"trades skipped (cut by the trade topic's retention): {', '.join(result.trades['skipped_days'])}")
    if result.skipped_days:
        say(f"skipped (cut by retention): {', '.join(result.skipped_days)}")


@app.command()
def maintain(ctx: typer.Context) -> None:
    """OPTIMIZE (compact small files) and VACUUM the replay's Delta tables."""
    from streaming.spark.replay_job import run_maintenance

    report = run_maintenance(settings_of(ctx))
    print(json.dumps(report, indent=2))
