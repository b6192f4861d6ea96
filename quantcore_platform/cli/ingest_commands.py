"""`quantcore` commands of the ingest part: the exchange simulator and the ingest shards."""

from __future__ import annotations

from pathlib import Path

import typer

from quantcore_platform.cli.apps import app, stream_app
from quantcore_platform.cli.console import say, settings_of
from quantcore.errors import PlatformError
from quantcore.settings import BookModeSetting, Source


@app.command()
def simulator(ctx: typer.Context,
              port: int = typer.Option(None, help="Listen port (default: simulator_port)."),
              rate_hz: float = typer.Option(None, help="Events per symbol per second (0.1 s of market each)."),
              seed: int = typer.Option(None, help="Seed of the book dynamics."),
              symbols: str = typer.Option(None, help="Comma-separated symbols (default: symbols)."),
              weight_limit: int = typer.Option(None, "--weight-limit",
                                               help="REST weight per IP per minute before HTTP 429 (Binance: 6000)."),
              certfile: Path = typer.Option(None, "--certfile", help="PEM certificate: serve wss:// and https://."),
              keyfile: Path = typer.Option(None, "--keyfile", help="PEM key of --certfile (if not inside it)."),
              replay: Path = typer.Option(None, "--replay", help="Serve this recording (quantcore record)."),
              speed: float = typer.Option(None, "--speed", help="With --replay: this many times faster.")) -> None:
    """Run the Binance-protocol exchange simulator in the foreground (Ctrl-C stops it):
    the seeded market model, or a recorded session with --replay."""
    from streaming.simulator import run_simulator

    if speed is not None and replay is None:
        raise PlatformError("--speed applies to a replay", "add --replay FILE, or drop --speed")
    # Command-line options win over the settings, validated like every other source.
    settings = settings_of(ctx).override(
        simulator_port=port, simulator_rate_hz=rate_hz, simulator_seed=seed, symbols=symbols,
        simulator=dict(weight_limit_per_minute=weight_limit, tls_certfile=certfile and str(certfile),
                           tls_keyfile=keyfile and str(keyfile), replay_file=replay and str(replay),
                           replay_speed=speed),
    ).validate("market", "simulator")
    run_simulator(settings, on_ready=lambda server: say(_listening(server)))


def _listening(server) -> str:
    where = f"on {server.ws_url} (REST {server.rest_url}/api/v3/depth, faults: POST {server.rest_url}/_faults)"
    if getattr(server, "header", None) is not None:  # a replay
        return f"simulator: replaying {server.path} ({len(server.symbols)} symbols) at {server.speed:g}x {where}"
    return f"simulator: {len(server.symbols)} symbols at {server.rate_hz:g} Hz {where}"


@app.command()
def record(ctx: typer.Context,
           out: Path = typer.Option(..., "--out", help="The recording to write (gzip JSON lines)."),
           seconds: float = typer.Option(None, "--seconds", help="Stop after this long (default: Ctrl-C)."),
           source: Source = typer.Option(None, help="simulator or binance."),
           symbols: str = typer.Option(None, help="Comma-separated symbols (default: symbols)."),
           extra: str = typer.Option("trade", "--extra",
                                     help="Comma-separated extra streams to capture: trade, aggTrade, "
                                          "depth5|10|20[@100ms] ('' for none).")) -> None:
    """Record a session of the source's raw frames and REST snapshots, with receive times,
    for `quantcore simulator --replay` (diff streams always; --extra adds more)."""
    from streaming.recording.recorder import check_extra, record_session

    if seconds is not None and seconds <= 0:
        raise PlatformError(f"--seconds {seconds:g} is not positive", "pass a duration > 0, or omit it")
    try:
        kinds = check_extra([k.strip() for k in extra.split(",") if k.strip()])
    except ValueError as exc:
        raise PlatformError(f"--extra: {exc}", "pass a comma-separated subset, e.g. --extra trade,depth20@100ms")
    # one process records every symbol: the shard count of the ingest does not apply
    settings = settings_of(ctx).override(source=source, symbols=symbols, shards=1).validate(
        "market", "ingest", "simulator")
    say(f"recording {len(settings.market.symbols)} symbols from {settings.market.source.value} to {out}"
        + (f" for {seconds:g} s" if seconds else " until Ctrl-C"))
    counters = record_session(settings, out, seconds=seconds, extra=kinds)
    say(f"recorded {counters['frames_written']} frames and {counters['rest_written']} REST answers to {out}")


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
