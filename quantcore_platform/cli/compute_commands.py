"""`quantcore` commands of the compute part: the Spark signals stream."""

from __future__ import annotations

import typer

from quantcore_platform.cli.apps import stream_app
from quantcore_platform.cli.console import say, settings_of
from quantcore.settings import TriggerMode


@stream_app.command("compute")
def compute(ctx: typer.Context,
            trigger: TriggerMode = typer.Option(None, help="microbatch or realtime (default: trigger_mode)."),
            from_beginning: bool = typer.Option(False, "--from-beginning",
                                                help="Without a checkpoint, start at the earliest offsets (default: latest)."),
            interval_ms: int = typer.Option(None, "--interval-ms", help="Micro-batch trigger interval (0 = back to back)."),
            master: str = typer.Option(None, help="Spark master (default: spark_master).")) -> None:
    """Compute signals from the book topic into Redis until Ctrl-C / SIGTERM: with
    compute_standby (the default) as two processes, one running the query, one ready to take over."""
    settings = settings_of(ctx).override(trigger_interval_ms=interval_ms, spark_master=master)
    settings.validate("compute", "spark")  # a bad option fails here, naming the setting
    mode = trigger or settings.compute.trigger_mode
    say(f"compute: {settings.kafka.book_topic} -> Redis {settings.redis.address} ({mode.value} trigger"
        f"{', with a standby' if settings.compute.standby else ''})")
    if settings.compute.standby:
        from streaming.spark.compute_group import run_compute_processes

        raise typer.Exit(run_compute_processes(settings, mode, from_beginning))
    from streaming.spark.compute_job import run_compute

    raise typer.Exit(run_compute(settings, mode, from_beginning))
