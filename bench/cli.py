"""`quantcore bench SCENARIO`: run a benchmark in a temporary platform and save its figures.

bench sits above the control plane (it starts services with its managers), so the CLI
cannot import it: this module is a CLI plugin, found through the `quantcore.cli` entry
point group in pyproject.toml (`register(app)` adds the command).
"""

from __future__ import annotations

import time

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bench.harness import BenchContext, RESULTS_DIR, command_line, print_figures, save_result, temporary_platform
from bench.registry import SCENARIOS
from quantcore_platform.cli.console import say
from quantcore.errors import PlatformError


def _parse_options(pairs: list[str]) -> dict[str, object]:
    options: dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise PlatformError(f"bad --set {pair!r}", "use --set name=value, e.g. --set duration=30")
        name, value = pair.split("=", 1)
        try:
            options[name] = float(value) if "." in value else int(value)
        except ValueError:
            options[name] = value
    return options


def bench(scenario: str = typer.Argument(..., help=f"One of: {', '.join(SCENARIOS)}, or all."),
          smoke: bool = typer.Option(False, "--smoke", help="Seconds-long run proving the harness works."),
          symbols: int = typer.Option(30, help="Symbols of the offered load."),
          rate_hz: float = typer.Option(10.0, help="Updates per symbol per second."),
          sets: list[str] = typer.Option([], "--set", help="Scenario option name=value (repeatable).")) -> None:
    """Measure SCENARIO against real services; print a table, write bench/results/SCENARIO.json."""
    names = list(SCENARIOS) if scenario == "all" else [scenario]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise PlatformError(f"unknown scenario {unknown[0]!r}", f"choose from {', '.join(SCENARIOS)} or all")
    options = _parse_options(sets)
    for name in names:
        run_one(name, smoke, symbols, rate_hz, options)


def register(app: typer.Typer) -> None:
    app.command()(bench)


def run_one(name: str, smoke: bool, symbols: int, rate_hz: float, options: dict[str, object]) -> dict:
    from quantcore.settings import DEFAULT_SYMBOLS

    spec = SCENARIOS[name]
    overrides = {"symbols": list(DEFAULT_SYMBOLS[:symbols]) if symbols <= len(DEFAULT_SYMBOLS)
                 else [f"SYM{i:03d}USDT" for i in range(symbols)],
                 "simulator_rate_hz": rate_hz, "shards": min(3, symbols)}
    started = time.monotonic()
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn(),
                  transient=True) as progress, temporary_platform(spec.services, **overrides) as settings:
        task = progress.add_task(f"{name}: starting")
        context = BenchContext(settings, smoke, options, RESULTS_DIR, lambda text: progress.update(
            task, description=f"{name}: {text}"))
        figures = spec.load()(context)
    figures["wall_time_s"] = round(time.monotonic() - started, 1)
    path = save_result(name, command_line(), settings, figures, context.plots, smoke)
    print_figures(name, figures)
    say(f"saved {path}" + (f" and {len(context.plots)} plot(s)" if context.plots else ""))
    return figures
