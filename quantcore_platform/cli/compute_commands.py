"""`quantcore` commands of the compute part: the Spark signals stream."""

from __future__ import annotations

import typer

from quantcore_platform.cli.apps import stream_app
from quantcore_platform.cli.console import say, settings_of
from quantcore.settings import TriggerMode, load_settings


@stream_app.command("compute")
def compute(ctx: typer.Context,
            trigger: TriggerMode = typer.Option(None, help="microbatch or realtime (default: settings.trigger_mode)."),
            from_beginning: bool = typer.Option(False, "--from-beginning",
                                                help="Without a checkpoint, start at the earliest offsets (default: latest)."),
            interval_ms: int = typer.Option(None, "--interval-ms", help="Micro-batch trigger interval (0 = back to back)."),
            master: str = typer.Option(None, help="Spark master (default: settings.spark_master).")) -> None:
    """Compute signals from the book topic into Redis until Ctrl-C / SIGTERM."""
    from streaming.spark.compute_job import run_compute

    settings = settings_of(ctx)
    overrides = {"trigger_interval_ms": interval_ms, "spark_master": master}
    if any(value is not None for value in overrides.values()):
        settings = load_settings(**{**settings.model_dump(exclude_none=True), **overrides})
    mode = trigger or settings.trigger_mode
    say(f"compute: {settings.book_topic} -> Redis {settings.redis_address} ({mode.value} trigger)")
    raise typer.Exit(run_compute(settings, mode, from_beginning))
