"""The gRPC market-data server: hubs + Redis and Kafka feeds + health + reflection + limits.

Four hubs: signals (`Subscribe`, `GetSnapshot`) and trade flow (`SubscribeTradeFlow`) from
Redis (`serving.redis_feed`, one subscription for both), books and trades (`SubscribeBooks`,
`SubscribeTrades`) from Kafka (`serving.kafka_feed`, read only while such clients are there:
`serving.kafka_demand`); they share the stream limit
(`serve.max_streams`) and the client queue settings.

`serve(settings)` is what `quantcore stream serve` (and Dagster, through it) runs; tests and
benchmarks use `MarketDataServer.from_settings(settings)` directly (start, inspect
`hub`/`metrics`, stop).

- Health (`grpc.health.v1`): SERVING only while the Redis feed is connected, NOT_SERVING
  while it reconnects and during shutdown (Kafka's state shows in the heartbeat: `kafka_books_loaded`). Open to everyone (see `serving.auth`).
- Reflection: lists and describes the real service, its methods and messages, so `grpcurl`
  works without the .proto (`serving.reflection`: describing a method needs a workaround).
- Shutdown (SIGINT/SIGTERM): health goes NOT_SERVING, new streams are refused, each stream
  sends what it has queued and ends with UNAVAILABLE (clients reconnect elsewhere), and
  whatever is still running after `serve.shutdown_grace_s` is cancelled.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import grpc
from grpc_health.v1 import _async as health_async
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from quantcore.errors import PlatformError
from quantcore.lifecycle import Heartbeat, cancel_and_wait, run_service_async
from quantcore.log import get_logger
from quantcore.settings import KafkaSettings, MarketSettings, RedisSettings, ServeSettings, Settings
from serving.auth import BearerTokenInterceptor
from serving.hub import Hub, StreamSlots
from serving.kafka_demand import KafkaFeedOnDemand
from serving.kinds import BOOKS, FLOWS, TRADES
from serving.metrics import ServeMetrics
from serving.redis_feed import redis_streams, run_feed
from serving.reflection import SERVICE_NAME as REFLECTION_SERVICE, enable_server_reflection
from serving.service import SERVICE_NAME, MarketDataService

log = get_logger("serving.server")

HEARTBEAT_COMPONENT = "serve"
SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),  # ping idle peers: a vanished client frees its stream
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),  # accept the client's keepalives
    ("grpc.keepalive_permit_without_calls", 1),
]


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise PlatformError(f"cannot read the gRPC TLS {what} {path}: {exc.strerror}",
                            f"fix QUANTCORE_GRPC_TLS_{what.upper()} (PEM file)") from None


def server_credentials(serve: ServeSettings) -> grpc.ServerCredentials | None:
    if serve.tls_cert is None:
        return None
    key, cert = _read(serve.tls_key, "key"), _read(serve.tls_cert, "cert")
    return grpc.ssl_server_credentials([(key, cert)])


class MarketDataServer:
    """`worker`: this process's index among `serve.processes` servers sharing the port
    (SO_REUSEPORT, see `serving.runner`); None for a server alone on its port, for which a
    port already taken is an error rather than a second listener."""

    def __init__(self, serve: ServeSettings, market: MarketSettings, redis: RedisSettings,
                 worker: int | None = None, kafka: KafkaSettings | None = None) -> None:
        self.serve = serve
        self.market = market
        self.redis = redis
        self.kafka = kafka or KafkaSettings()
        self.worker = worker
        self.metrics = ServeMetrics()
        slots = StreamSlots(serve.max_streams)
        limits = {"queue_size": serve.client_queue_size, "max_lag_s": serve.client_max_lag_s,
                  "max_streams": serve.max_streams, "slots": slots}
        self.hub = Hub(market.symbols, metrics=self.metrics, **limits)
        self.books = Hub(market.symbols, kind=BOOKS, **limits)
        self.trades = Hub(market.symbols, kind=TRADES, **limits)
        self.flows = Hub(market.symbols, kind=FLOWS, **limits)
        self.kafka_feed: KafkaFeedOnDemand | None = None
        self.health = health_async.HealthServicer()
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None
        self._tasks: list[asyncio.Task] = []

    @classmethod
    def from_settings(cls, settings: Settings, worker: int | None = None) -> "MarketDataServer":
        """The server these settings describe (it takes their serve, market, redis and kafka sections)."""
        return cls(settings.serve, settings.market, settings.redis, worker, settings.kafka)

    @property
    def address(self) -> str:
        return f"{self.serve.host}:{self.port}"

    # --- the service protocol (quantcore.lifecycle runs `serve` with it) -------------------
    component = HEARTBEAT_COMPONENT

    @property
    def instance(self) -> str:
        return self.address if self.worker is None else f"{self.address}#{self.worker}"

    def counters(self) -> dict:
        """The signal stream's counters as before, the other streams' prefixed (`books_drops`,
        `trade_flow_conflated`, ...)."""
        kafka = {"kafka_books_loaded": int(self.books.loaded),
                 "kafka_errors": 0 if self.kafka_feed is None else self.kafka_feed.errors}
        return {"pid": os.getpid(), **self.metrics.snapshot(), **kafka,
                **self.books.metrics.stream_snapshot("books"), **self.trades.metrics.stream_snapshot("trades"),
                **self.flows.metrics.stream_snapshot("trade_flow")}

    @property
    def hubs(self) -> tuple[Hub, Hub, Hub, Hub]:
        return self.hub, self.books, self.trades, self.flows

    def failure(self) -> str | None:
        """A background task that ended on its own (the feed retries forever, so this is a bug)."""
        for task in self._tasks:
            if task.done() and not task.cancelled():
                return f"{task.get_name()} ended: {task.exception()!r}"
        return None if self.kafka_feed is None else self.kafka_feed.failure()

    def _build(self) -> grpc.aio.Server:
        token = self.serve.token_value
        interceptors = [BearerTokenInterceptor(token)] if token else []
        shared = [("grpc.so_reuseport", 0 if self.worker is None else 1)]
        server = grpc.aio.server(interceptors=interceptors, options=SERVER_OPTIONS + shared)
        service = MarketDataService(self.hub, self.books, self.trades, self.flows)
        server.add_generic_rpc_handlers((service.generic_handler(),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, REFLECTION_SERVICE), server)
        return server

    def _bind(self, server: grpc.aio.Server) -> int:
        address = self.serve.address
        credentials = server_credentials(self.serve)
        try:
            port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
        except RuntimeError:
            port = 0
        if port == 0:
            raise PlatformError(f"cannot listen for gRPC on {address} (port in use or address not local)",
                                "stop the other server or set QUANTCORE_GRPC_PORT / QUANTCORE_GRPC_HOST")
        return port

    async def start(self) -> "MarketDataServer":
        self._server = self._build()
        self.port = self._bind(self._server)
        await self._set_health(False)
        await self._server.start()
        feed = run_feed(self.redis, self.serve, redis_streams(self.hub, self.flows), self._set_health, self.metrics)
        self.kafka_feed = KafkaFeedOnDemand(self.kafka, self.books, self.trades, loop=asyncio.get_running_loop(),
                                            book_lookback_s=self.serve.book_lookback_s,
                                            idle_stop_s=self.serve.kafka_idle_stop_s)
        self._tasks = [asyncio.create_task(feed, name="redis-feed"),
                       asyncio.create_task(self.kafka_feed.run_idle_stopper(), name="kafka-idle-stopper"),
                       *(asyncio.create_task(hub.run_sweeper(), name=f"lag-sweeper-{hub.kind.name}")
                         for hub in self.hubs)]
        log.info("serving market data", address=self.address, tls=self.serve.tls_cert is not None,
                 token=self.serve.token is not None, symbols=len(self.market.symbols))
        return self

    async def _set_health(self, up: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if up else health_pb2.HealthCheckResponse.NOT_SERVING
        for service in ("", SERVICE_NAME):
            await self.health.set(service, status)

    async def stop(self, grace: float | None = None) -> None:
        """Drain the streams (see the module doc), then stop the feed."""
        if self._server is None:
            return
        grace = self.serve.shutdown_grace_s if grace is None else grace
        log.info("draining streams", grace_s=grace, clients=sum(len(hub.subscribers) for hub in self.hubs))
        await self.health.enter_graceful_shutdown()
        for hub in self.hubs:
            hub.close_all("server shutting down; reconnect")
        await self._server.stop(grace)
        if self.kafka_feed is not None:
            self.kafka_feed.stop()  # its thread ends within a poll; not waited for (see KafkaFeed.start)
            self.kafka_feed = None
        await cancel_and_wait(self._tasks)
        self.metrics.redis_up = False
        self._server = None
        log.info("stopped", address=self.address, **self.metrics.snapshot())

    async def __aenter__(self) -> "MarketDataServer":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()


async def serve(settings: Settings, worker: int | None = None) -> None:
    """Run until SIGINT or SIGTERM, then drain and shut down (the platform's lifecycle:
    signals, heartbeat with the serving counters, failure polling)."""
    server = MarketDataServer.from_settings(settings, worker)
    await run_service_async(server, Heartbeat(settings.redis, settings.heartbeat))


def run_server(settings: Settings, worker: int | None = None) -> None:
    """`serve` on uvloop where it is installed: ~15% less CPU per message written by grpc.aio."""
    try:
        import uvloop
    except ImportError:  # (not built for every platform)
        asyncio.run(serve(settings, worker))
    else:
        uvloop.run(serve(settings, worker))
