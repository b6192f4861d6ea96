"""`quantcore` commands of the serve part: `stream serve` and `watch` (thin over `serving`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from quantcore_platform.cli.apps import app, stream_app
from quantcore_platform.cli.console import settings_of
from quantcore.errors import PlatformError


@stream_app.command("serve")
def serve(ctx: typer.Context,
          host: str = typer.Option(None, help="Listen address (default: grpc_host, loopback)."),
          port: int = typer.Option(None, help="Listen port (default: grpc_port, 50051).")) -> None:
    """Run the gRPC market-data server until SIGINT/SIGTERM (then drain and stop): serve_processes
    servers sharing the port (2 by default; 1 runs it in this process)."""
    settings = settings_of(ctx).override(grpc_host=host, grpc_port=port).validate("serve")
    if settings.serve.processes > 1:
        from serving.runner import run_server_processes

        raise typer.Exit(run_server_processes(settings))
    from serving.server import run_server

    run_server(settings)


@app.command()
def watch(ctx: typer.Context,
          symbols: list[str] = typer.Argument(None, help="Symbols to show (default: all)."),
          address: str = typer.Option(None, help="Server host:port (default: this platform's grpc_host:grpc_port)."),
          tls: bool = typer.Option(False, help="Use TLS with the system's CAs."),
          ca: Path = typer.Option(None, help="PEM file to trust (implies TLS; default: grpc_tls_cert if set)."),
          server_name: str = typer.Option(None, help="Name to check in the server certificate."),
          duration: float = typer.Option(None, help="Stop after this many seconds (default: until Ctrl-C)."),
          books: str = typer.Option(None, "--books", metavar="SYMBOL",
                                    help="Show a live ladder of this symbol's book instead (SubscribeBooks)."),
          depth: int = typer.Option(10, help="With --books: levels per side, 1..20."),
          trade_flow: str = typer.Option(None, "--trade-flow", metavar="SYMBOL",
                                         help="Show this symbol's trade-flow windows instead (SubscribeTradeFlow)."),
          ) -> None:
    """A live table of the signals per symbol: OBI, mid, spread, update age and rate; or, with
    --books SYMBOL, a live ladder of one symbol's book; or, with --trade-flow SYMBOL, its trade
    count, VWAP and imbalance over 1 s / 10 s / 60 s."""
    import grpc

    from serving.client import MarketDataClient
    from serving.watch import watch as run_watch, watch_books, watch_trade_flow

    settings = settings_of(ctx)
    options = {"tls": tls, "server_name": server_name}
    if ca is not None:
        options["root_certificates"] = ca

    async def main() -> None:
        async with MarketDataClient.from_settings(settings, address, **options) as client:
            if books:
                await watch_books(client, books, depth=depth, duration_s=duration)
            elif trade_flow:
                await watch_trade_flow(client, trade_flow, duration_s=duration)
            else:
                await run_watch(client, symbols or [], duration_s=duration)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except grpc.aio.AioRpcError as exc:
        raise PlatformError(f"the server refused the stream: {exc.code().name}: {exc.details()}",
                            _fix_for(exc.code())) from None


def _fix_for(code) -> str:
    if code.name == "UNAUTHENTICATED":
        return "set QUANTCORE_GRPC_TOKEN to the server's token"
    if code.name == "INVALID_ARGUMENT":
        return "name symbols the server serves (QUANTCORE_SYMBOLS), and a --depth of 1..20"
    return "check the server's log"
