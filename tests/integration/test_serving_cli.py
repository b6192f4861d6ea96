"""`quantcore stream serve` and `quantcore watch` as an operator runs them.

The server runs as a real process: `watch` shows the signals it serves, a bad request is
one error line with a fix, and SIGTERM drains the open streams (UNAVAILABLE, exit 0).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from quantcore.polling import wait_until
from quantcore.wire import MarketUpdate, market_data_pb2
from quantcore_platform.services.process import free_port
from quantcore.settings import Settings
from serving.service import SERVICE_NAME
from quantcore.samples import signal_update
from quantcore.signal_store import SignalStore

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
QUANTCORE = [sys.executable, "-m", "quantcore_platform.cli"]


def env_of(settings: Settings) -> dict[str, str]:
    """The environment of `stream serve` (and `watch`, which reads only the serve section)."""
    return {**settings.child_env("serve", "market", "redis", "heartbeat"), "COLUMNS": "160"}


def wait_serving(address: str, server: subprocess.Popen, timeout: float = 30) -> None:
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)

        def serving() -> bool:
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.RpcError:
                return False
            return reply.status == health_pb2.HealthCheckResponse.SERVING

        wait_until(serving, timeout, "quantcore stream serve reporting SERVING", interval=0.1,
                   alive=lambda: server.poll() is None,
                   on_timeout=lambda: server.stderr.read() if server.poll() is not None else "")


def test_serve_watch_and_sigterm_drain(redis_conn, redis_service: Settings):
    settings = redis_service.override(grpc_port=free_port(), grpc_shutdown_grace_s=5.0)
    store = SignalStore(redis_conn)
    store.write(signal_update("BTCUSDT", 1, obi=0.25, mid=65_000.0))
    server = subprocess.Popen([*QUANTCORE, "stream", "serve"], env=env_of(settings), cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_serving(settings.serve.address, server)

        shown = subprocess.run([*QUANTCORE, "watch", "BTCUSDT", "ETHUSDT", "--duration", "1.5"],
                               env=env_of(settings), cwd=REPO, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        btc = next(line for line in shown.stdout.splitlines() if "BTCUSDT" in line)
        assert "+0.250" in btc and "+0.125" in btc and "65,000.00" in btc, btc
        assert "ETHUSDT" in shown.stdout, "a requested symbol without signals yet still has its row"

        refused = subprocess.run([*QUANTCORE, "watch", "NOPEUSDT", "--duration", "5"], env=env_of(settings),
                                 cwd=REPO, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert "INVALID_ARGUMENT" in refused.stderr and "fix:" in refused.stderr

        # An open stream, read in a thread, sees the queued update and then the drain status.
        received, ended = [], {}
        with grpc.insecure_channel(settings.serve.address) as channel:
            subscribe = channel.unary_stream(f"/{SERVICE_NAME}/Subscribe",
                                             request_serializer=market_data_pb2.SubscribeRequest.SerializeToString,
                                             response_deserializer=MarketUpdate.FromString)
            call = subscribe(market_data_pb2.SubscribeRequest(symbols=["BTCUSDT"]))

            def read() -> None:
                try:
                    for message in call:
                        received.append(message)
                except grpc.RpcError as exc:
                    ended["code"], ended["details"] = exc.code(), exc.details()

            reader = threading.Thread(target=read)
            reader.start()
            wait_until(lambda: received, 15, "the snapshot on the open stream", interval=0.02)
            store.write(signal_update("BTCUSDT", 2, obi=-0.5))
            wait_until(lambda: len(received) >= 2, 15, "the update on the open stream", interval=0.02)
            server.send_signal(signal.SIGTERM)
            reader.join(timeout=15)
        assert server.wait(timeout=15) == 0
        assert ended["code"] == grpc.StatusCode.UNAVAILABLE and "shutting down" in ended["details"]
        assert [m.kind for m in received] == [MarketUpdate.SNAPSHOT, MarketUpdate.UPDATE]
        assert received[1].updates[0].signals.obi_1 == -0.5
        log = server.stderr.read()
        assert "draining streams" in log and "stopped" in log
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
