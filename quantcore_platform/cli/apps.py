"""The typer apps that the command modules attach to (kept apart to avoid import cycles)."""

import typer

app = typer.Typer(help="QuantCore: streaming order-book signals.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
stream_app = typer.Typer(help="Run one stream in the foreground (what Dagster supervises).",
                         no_args_is_help=True)
app.add_typer(stream_app, name="stream")
