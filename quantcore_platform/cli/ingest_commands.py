"""`quantcore` commands of the ingest part: the exchange simulator and the ingest shards."""

from __future__ import annotations

import typer

from quantcore_platform.cli.apps import app, stream_app
from quantcore_platform.cli.console import say, settings_of
from quantcore.errors import PlatformError
from quantcore.settings import BookModeSetting, Source


@app.command()
def simulator(ctx: typer.Context,
              port: int = typer.Option(None, help="Listen port (default: simulator_port)."),
              rate_hz: float = typer.Option(None, help="Events per symbol per second."),
              seed: int = typer.Option(None, help="Seed of the book dynamics."),
              symbols: str = typer.Option(None, help="Comma-separated symbols (default: symbols).")) -> None:
    """Run the Binance-protocol exchange simulator in the foreground (Ctrl-C stops it)."""
    from streaming.simulator import run_simulator

    # Command-line options win over the settings, validated like every other source.
    settings = settings_of(ctx).override(simulator_port=port, simulator_rate_hz=rate_hz, simulator_seed=seed,
                                         symbols=symbols).validate("market", "simulator")
    run_simulator(settings, on_ready=lambda server: say(
        f"simulator: {len(server.symbols)} symbols at {server.rate_hz:g} Hz on {server.ws_url} "
        f"(REST {server.rest_url}/api/v3/depth, faults: POST {server.rest_url}/_faults)"))


@stream_app.command("ingest")
def ingest(ctx: typer.Context,
           shard_id: int = typer.Option(None, "--shard-id", help="Run this one shard; omit to run all shards."),
           shards: int = typer.Option(None, "--shards", help="Number of shards (default: shards)."),
           source: Source = typer.Option(None, help="simulator or binance."),
           mode: BookModeSetting = typer.Option(None, help="diff (local book) or partial (top-N)."),
           symbols: str = typer.Option(None, help="Comma-separated symbols (default: symbols).")) -> None:
    """Ingest depth streams into Kafka: one shard (--shard-id) or a runner of all shards."""
    settings = settings_of(ctx).override(shards=shards, source=source, book_mode=mode, symbols=symbols)
    count, market = settings.ingest.shards, settings.market
    if shard_id is None:
        from streaming.ingest.runner import run_shard_processes

        say(f"ingest: running {count} shards from {market.source.value} ({market.book_mode.value})")
        raise typer.Exit(run_shard_processes(settings))
    if not 0 <= shard_id < count:
        raise PlatformError(f"--shard-id {shard_id} is not in [0, {count})",
                            "pass 0..shards-1, or omit --shard-id to run every shard")
    from streaming.ingest.shard import run_shard

    counters = run_shard(settings, shard_id, count)
    say(f"ingest shard {shard_id}: stopped after {counters.records} records, {counters.dead_letters} dead letters")
