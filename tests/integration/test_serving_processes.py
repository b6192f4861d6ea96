"""`quantcore stream serve` as two server processes sharing one port (SO_REUSEPORT).

kill -9 of one server: its clients' streams end, the client library reconnects, lands on the
live server within 2 s, gets a snapshot and carries on receiving updates; the group restarts
the dead server. The other server's clients notice nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from quantcore.heartbeats import read_heartbeats
from quantcore.polling import wait_until
from quantcore.samples import signal_update
from quantcore.settings import Settings
from quantcore.signal_store import SignalStore
from quantcore.wire import MarketUpdate
from quantcore_platform.services.process import free_port
from serving.client import MarketDataClient
from serving.runner import check_port_free

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CLIENTS = 8
BACK_WITHIN_S = 2.0


def runner_beat(redis_conn) -> dict:
    return read_heartbeats(redis_conn, "serve-runner").get("serve-runner:runner", {})


def server_beats(redis_conn) -> dict[int, dict]:
    """Each live server's last heartbeat, by its pid."""
    return {beat["pid"]: beat for beat in read_heartbeats(redis_conn, "serve").values() if "pid" in beat}


class Watcher:
    """One client (its own TCP connection) on its own thread's loop: every message with its
    arrival time."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.messages: list[tuple[float, MarketUpdate]] = []
        self.client: MarketDataClient | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        # a subchannel of its own: channels of one process share TCP connections otherwise, and
        # these clients stand for different machines
        self.client = MarketDataClient(self.address, backoff_initial_s=0.05, backoff_max_s=0.5,
                                       options=[("grpc.use_local_subchannel_pool", 1)])
        try:
            async for message in self.client.subscribe(["BTCUSDT"]):
                self.messages.append((time.monotonic(), message))
        except asyncio.CancelledError:
            pass

    def snapshots_after(self, t: float) -> list[float]:
        return [at for at, m in self.messages if at > t and m.kind == MarketUpdate.SNAPSHOT]

    def updates_after(self, t: float) -> int:
        return sum(1 for at, m in self.messages if at > t and m.kind == MarketUpdate.UPDATE)

    def stop(self) -> None:
        for task in asyncio.all_tasks(self._loop):
            self._loop.call_soon_threadsafe(task.cancel)
        self._thread.join(5)


def test_a_killed_server_process_loses_no_client(redis_conn, redis_service: Settings):
    settings = redis_service.override(grpc_port=free_port(), serve_processes=2, heartbeat_interval_s=0.2,
                                      serve_restart_backoff_s=0.2)
    store = SignalStore(redis_conn)
    store.write(signal_update("BTCUSDT", 1, obi=0.1))
    env = settings.child_env("serve", "market", "redis", "heartbeat")
    group = subprocess.Popen([sys.executable, "-m", "quantcore_platform.cli", "stream", "serve"], env=env, cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watchers: list[Watcher] = []
    writing = threading.Event()
    try:
        wait_until(lambda: len([b for b in server_beats(redis_conn).values() if b.get("redis_up")]) == 2, 60,
                   "two servers up", interval=0.1, alive=lambda: group.poll() is None)

        def write_updates() -> None:
            update_id = 2
            while not writing.is_set():
                store.write(signal_update("BTCUSDT", update_id, obi=0.2))
                update_id += 1
                time.sleep(0.05)

        threading.Thread(target=write_updates, daemon=True).start()
        watchers = [Watcher(settings.serve.address) for _ in range(CLIENTS)]
        wait_until(lambda: all(w.updates_after(0) >= 3 for w in watchers), 30, "every client streaming", interval=0.1)
        wait_until(lambda: sum(b["clients"] for b in server_beats(redis_conn).values()) == CLIENTS, 10,
                   "each server's client count in its heartbeat", interval=0.1)
        by_clients = sorted(server_beats(redis_conn).values(), key=lambda b: b["clients"])
        victim, survivor = by_clients[-1], by_clients[0]
        assert victim["clients"] > 0, "the kernel gave every connection to one server"
        os.kill(victim["pid"], signal.SIGKILL)
        killed_at = time.monotonic()

        time.sleep(BACK_WITHIN_S + 1.0)
        moved = [w for w in watchers if w.snapshots_after(killed_at)]
        assert len(moved) == victim["clients"], "exactly the dead server's clients reconnected"
        for watcher in moved:
            back_after = watcher.snapshots_after(killed_at)[0] - killed_at
            assert back_after <= BACK_WITHIN_S, f"a client got its snapshot {back_after:.2f}s after the kill"
            assert watcher.client.reconnects == 1
        resumed_at = time.monotonic()
        wait_until(lambda: all(w.updates_after(resumed_at) >= 3 for w in watchers), 10,
                   "every client receiving updates again", interval=0.1)
        assert survivor["pid"] in server_beats(redis_conn)

        # the group restarted the dead server under a new pid
        wait_until(lambda: runner_beat(redis_conn).get("restarts") == 1
                   and victim["pid"] not in (runner_beat(redis_conn).get("serve-0_pid"),
                                             runner_beat(redis_conn).get("serve-1_pid")), 30,
                   "the dead server restarted", interval=0.1)
    finally:
        writing.set()
        for watcher in watchers:
            watcher.stop()
        if group.poll() is None:
            group.send_signal(signal.SIGTERM)
    assert group.wait(timeout=30) == 0, group.stderr.read()


def test_a_shared_port_must_be_a_free_fixed_port(redis_service: Settings):
    listening = subprocess.Popen([sys.executable, "-c", "import socket, time; s = socket.socket(); "
                                  "s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1], flush=True); "
                                  "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(listening.stdout.readline())
        taken = redis_service.override(grpc_port=port, serve_processes=2)
        with pytest.raises(Exception, match="port in use") as refused:
            check_port_free(taken.serve, wait_s=1.0)
        assert "QUANTCORE_GRPC_PORT" in refused.value.fix
    finally:
        listening.kill()
        listening.wait()
    # a predecessor still draining (a terminated run's servers): the port is waited for
    draining = subprocess.Popen([sys.executable, "-c", "import socket, time; s = socket.socket(); "
                                 "s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1], flush=True); "
                                 "time.sleep(2)"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(draining.stdout.readline())
        started = time.monotonic()
        check_port_free(redis_service.override(grpc_port=port, serve_processes=2).serve, wait_s=30.0)
        assert time.monotonic() - started > 1.0, "the port was free only once the listener was gone"
        assert draining.wait(timeout=5) == 0
    finally:
        draining.kill()
        draining.wait()
    # a stopped server that closed its clients' connections first leaves them in TIME_WAIT
    # on its port: not a listener, and gRPC (SO_REUSEADDR) binds it at once
    port = _port_in_time_wait()
    check_port_free(redis_service.override(grpc_port=port, serve_processes=2).serve, wait_s=0.0)
    with pytest.raises(Exception, match="cannot share port 0") as refused:
        check_port_free(redis_service.override(grpc_port=0, serve_processes=2).serve)
    assert "QUANTCORE_SERVE_PROCESSES=1" in refused.value.fix


def _port_in_time_wait() -> int:
    """A port whose listener (SO_REUSEADDR, as gRPC's) is gone, with a connection it closed
    first in TIME_WAIT on it."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()  # the server's side closes first: its socket goes to TIME_WAIT
    client.recv(1)  # the FIN
    client.close()
    listener.close()
    plain = socket.socket()
    with pytest.raises(OSError):  # without SO_REUSEADDR the port still looks taken
        plain.bind(("127.0.0.1", port))
    plain.close()
    return port
