"""`quantcore`: the command line of the platform.

Every command is a thin shell over a library function that Dagster and the tests call
too. Expected failures (`PlatformError`, `ConfigError`) print one line with the fix and
exit 2, never a traceback.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from quantcore.errors import PlatformError
from quantcore_platform.services import platform
from quantcore_platform.services.readiness import wait_for_signals
from quantcore.settings import ConfigError, Settings, load_settings

from quantcore_platform.cli.apps import app
from quantcore_platform.cli.console import console, say, settings_of, stdout_console

# Command modules, one per part of the system; importing them registers their commands.
from quantcore_platform.cli import (  # noqa: E402, F401
    chaos_commands,
    compute_commands,
    ingest_commands,
    replay_commands,
    serve_commands,
)


def _load_plugins() -> None:
    """Commands of packages above the control plane (bench) register through entry points."""
    for entry in entry_points(group="quantcore.cli"):
        entry.load()(app)


_load_plugins()


@app.callback()
def main(ctx: typer.Context,
         home: Path = typer.Option(None, help="Platform home (default .quantcore; env QUANTCORE_HOME).")) -> None:
    ctx.obj = load_settings(home=home)


@app.command()
def up(ctx: typer.Context,
       detach: bool = typer.Option(False, "--detach", "-d", help="Return once everything is healthy."),
       only: list[str] = typer.Option([], "--only", help=f"Start just these ({', '.join(platform.COMPONENT_NAMES)})."),
       wait_s: float = typer.Option(300, "--wait", help="Seconds to wait for the first gRPC update."),
       kafka_brokers: int = typer.Option(None, "--kafka-brokers", min=1, max=5,
                                         help="A local Kafka cluster of N KRaft nodes (default: kafka_brokers, 1)."),
       spark_workers: int = typer.Option(None, "--spark-workers", min=0, max=16,
                                         help="A Spark standalone master and N workers the jobs run on "
                                              "(default: spark_workers, 0 = local).")) -> None:
    """Start Kafka, Redis, the simulator and Dagster, launch the streams through Dagster,
    and wait until a gRPC client receives signals."""
    settings = settings_of(ctx).override(kafka_brokers=kafka_brokers, spark_workers=spark_workers).validate()
    started = time.monotonic()
    with console.status("starting the platform...") as spinner:
        statuses = platform.up(settings, report=lambda line: (spinner.update(line), say(line)), only=only)
        if any(s.name == "dagster-webserver" for s in statuses):
            spinner.update("waiting for the first signals over gRPC...")
            first, symbols = wait_for_signals(settings.serve, wait_s, want_symbols=1)
            say(f"first gRPC update {time.monotonic() - started:.1f}s after `up` ({', '.join(sorted(symbols))})")
            _print_endpoints(settings)
    _print_status(statuses)
    if detach:
        platform.start_supervisor(settings, only)
        say("supervisor: watching the services (restarts what dies; `quantcore down` stops everything)")
        return
    say("Running; services that die are restarted. Ctrl-C stops everything.")
    ended_by = "interrupt"
    try:
        ended_by = _supervise_until_interrupt(settings, only)
    finally:
        if ended_by != "quantcore down":
            platform.down(settings, report=say)


def _supervise_until_interrupt(settings: Settings, only: list[str]) -> str:
    """The foreground watchdog: restart dead services until Ctrl-C/SIGTERM or `quantcore down`."""
    from quantcore_platform.services.watchdog import Watchdog

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    watchdog = Watchdog(platform.managed_components(settings, only), settings.paths.run_dir, say)
    try:
        ended_by = watchdog.run(should_stop=lambda: False)
    except KeyboardInterrupt:
        ended_by = "interrupt"
    say("stopping..." if ended_by == "interrupt" else f"stopped by {ended_by}")
    return ended_by


def _print_endpoints(settings: Settings) -> None:
    console.print(f"[bold]Dagster UI[/bold]   http://127.0.0.1:{settings.dagster.port}")
    console.print(f"[bold]gRPC API[/bold]     {settings.serve.address}  (try: quantcore watch)")
    kafka = settings.kafka
    console.print(f"[bold]Kafka[/bold]        {kafka.bootstrap_servers}  topics {kafka.book_topic}, {kafka.trade_topic}")
    console.print(f"[bold]Redis[/bold]        {settings.redis.address}")


@app.command(hidden=True)
def supervise(ctx: typer.Context, only: list[str] = typer.Option([], "--only", help="Watch just these.")) -> None:
    """The watchdog of a detached platform (started by `up --detach`, stopped by `down`)."""
    from quantcore_platform.services.watchdog import Watchdog

    settings = settings_of(ctx)
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _: stopping.append(signum))
    watchdog = Watchdog(platform.managed_components(settings, only), settings.paths.run_dir, say)
    say(f"supervising {', '.join(c.name for c in watchdog.components)}")
    say(f"supervisor stopped ({watchdog.run(should_stop=lambda: bool(stopping))})")


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop a platform started with `up --detach`."""
    platform.down(settings_of(ctx), report=say)


@app.command()
def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Machine-readable."),
           only: list[str] = typer.Option([], "--only", help="Report just these components.")) -> None:
    """Health, address and pid of each component (exit 1 if any is unhealthy)."""
    statuses = platform.status(settings_of(ctx), only)
    if as_json:
        print(json.dumps([s.as_dict() for s in statuses], indent=2))
    else:
        _print_status(statuses)
    raise typer.Exit(0 if all(s.healthy for s in statuses) else 1)


def _print_status(statuses: list[platform.ComponentStatus]) -> None:
    table = Table(title="QuantCore platform")
    for column in ("component", "health", "address", "pid", "restarts", "last exit", "log"):
        table.add_column(column)
    for s in statuses:
        health = "[green]healthy[/green]" if s.healthy else "[red]down[/red]"
        table.add_row(s.name, health, s.address, str(s.pid or ("external" if not s.managed else "-")),
                      str(s.restarts) if s.managed else "-", escape(s.last_exit or ""), s.log or "")
    stdout_console.print(table)


def run() -> None:
    """Console entry point: typer app with one-line errors."""
    try:
        code = app(standalone_mode=False)
    except (PlatformError, ConfigError) as exc:
        _fail(exc)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - usage errors: click's, and those of the click typer vendors
        from click import ClickException

        if isinstance(exc, (ClickException, typer.TyperException)) and hasattr(exc, "show"):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)


def _fail(exc: Exception) -> None:
    # escape: messages name TOML tables ("[serve]"), which are not console markup
    if isinstance(exc, PlatformError):
        console.print(f"[red]error:[/red] {escape(exc.problem)}")
        if exc.fix:
            console.print(f"[yellow]fix:[/yellow] {escape(exc.fix)}")
    else:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
    sys.exit(2)
