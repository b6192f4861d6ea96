"""n gRPC server processes on one port, each restarted with backoff when it dies.

`quantcore stream serve` runs this when `serve.processes` > 1 (the default is 2). Every
worker is `python -m serving.runner --worker i`: a whole `MarketDataServer` (its own Redis
feed, hub and clients) listening with SO_REUSEPORT, the pattern of grpc's multiprocessing
example, so the kernel spreads new connections over the live workers. When one dies, its
clients' streams end with UNAVAILABLE, their reconnect (the client library's jittered
backoff) lands on a live worker, and the first message there is a fresh snapshot; the dead
worker is restarted by `quantcore.worker_group`.

Sharing the port gives up the error a second, unrelated server would otherwise get, so the
runner first checks that nothing listens on the port.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
import threading
import time

from quantcore.errors import PlatformError
from quantcore.lifecycle import Heartbeat
from quantcore.settings import ConfigError, ServeSettings, Settings, load_settings
from quantcore.worker_group import WorkerGroup

WORKER_SECTIONS = ("serve", "redis", "market", "heartbeat", "kafka")  # what a server reads


def worker_command(worker: int) -> list[str]:
    return [sys.executable, "-m", "serving.runner", "--worker", str(worker)]


PORT_RELEASE_MARGIN_S = 10.0  # beyond the predecessor's drain: its exit, on a busy machine


def check_port_free(serve: ServeSettings, wait_s: float | None = None) -> None:
    """Refuse a port that some process already listens on, or port 0 (each worker would get
    its own free port: they would share nothing). A listener that goes away within the
    drain time (`shutdown_grace_s`, plus a margin) is a predecessor still stopping: a run
    terminated from Dagster, whose replacement the health sensor launches within seconds.
    `wait_s` overrides how long to wait for it."""
    if serve.port == 0:
        raise PlatformError(f"{serve.processes} server processes cannot share port 0 (any free port)",
                            "set QUANTCORE_GRPC_PORT to a port, or QUANTCORE_SERVE_PROCESSES=1")
    deadline = time.monotonic() + (serve.shutdown_grace_s + PORT_RELEASE_MARGIN_S if wait_s is None else wait_s)
    while (problem := _bind_problem(serve)) == errno.EADDRINUSE and time.monotonic() < deadline:
        time.sleep(0.5)
    if problem is not None:
        raise PlatformError(f"cannot listen for gRPC on {serve.address}: "
                            f"{'port in use' if problem == errno.EADDRINUSE else os.strerror(problem)}",
                            "stop the other server or set QUANTCORE_GRPC_PORT / QUANTCORE_GRPC_HOST")


def _bind_problem(serve: ServeSettings) -> int | None:
    """The errno of binding the port now, None when it is free. With SO_REUSEADDR, as grpc
    binds: the connections a stopped server closed first stay in TIME_WAIT on its port for
    60 s, and a plain bind took them for a listener (the sensor's replacement of a serve run
    terminated with clients connected failed "port in use" for a minute)."""
    probe = socket.socket(socket.AF_INET6 if ":" in serve.host else socket.AF_INET)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((serve.host, serve.port))
    except OSError as exc:
        return exc.errno
    finally:
        probe.close()
    return None


class ServeRunner(WorkerGroup):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings.validate("serve")
        serve = self.settings.serve
        check_port_free(serve)
        super().__init__("serve-runner", {f"serve-{i}": worker_command(i) for i in range(serve.processes)},
                         self.settings.child_env(*WORKER_SECTIONS),
                         backoff_s=serve.restart_backoff_s, backoff_max_s=serve.restart_backoff_max_s)


def run_server_processes(settings: Settings, stop: threading.Event | None = None) -> int:
    """Run `serve.processes` servers on the port under supervision until stopped."""
    runner = ServeRunner(settings)
    return runner.run(Heartbeat(runner.settings.redis, runner.settings.heartbeat), stop)


def main(argv: list[str] | None = None) -> int:
    """`python -m serving.runner --worker i`: one server of the group, settings from the
    environment (what `ServeRunner` spawns); returns the exit code."""
    from serving.server import run_server

    parser = argparse.ArgumentParser(prog="python -m serving.runner",
                                     description="Run one gRPC server of a group sharing the port.")
    parser.add_argument("--worker", type=int, required=True, help="This server's index in the group.")
    args = parser.parse_args(argv)
    try:
        run_server(load_settings().validate("serve"), worker=args.worker)
    except (PlatformError, ConfigError) as exc:  # one line with the fix, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
