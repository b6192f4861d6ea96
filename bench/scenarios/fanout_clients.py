"""The fanout benchmark's subscribers, behind one interface: the Go load client (the
default, `fanout_go.py`) or the Python grpc.aio workers (`fanout_python.py`).

Either opens N streams to every symbol (`Subscribe`; the Python workers also `SubscribeBooks`,
per the feed: fanout_feeds.py), stamps each message as it arrives and counts the updates
(books) whose ids fall in a window. `finish` returns one result per client
process, always in this shape, so `fanout.measure_round` has one path for both:

    counts        per stream: updates counted in the window
    errors        streams that failed
    latencies_us  bytes, little-endian int64: receive_us - publish_us of each counted update
                  (books: receive_us - ingest_time_us)
    hops_us       bytes, int64 pairs per message with counted updates:
                  (server_send_us - its first update's publish_us (books: kafka_append_us),
                   receive_us - server_send_us)
    seen          per sampled stream: [(symbol, update_id, receive_us), ...] of counted updates
    cpu_s         the client's CPU seconds until the load was written (its receive cost)

Why Go: grpc.aio costs ~55 µs of CPU per message, and the clients share the machine's
2 cores with the server under test; what the Go client costs is in each round's figures
(`client_cpu_us_per_update`, beside the server's).
"""

from __future__ import annotations

from typing import Any, Protocol

from bench.process_cpu import cpu_seconds
from bench.scenarios.fanout_feeds import SIGNALS, Feed
from quantcore.errors import PlatformError

CLIENTS = ("go", "python")
DEFAULT_CLIENT = "go"
STREAMS_PER_CONNECTION = 100  # HTTP/2 streams multiplexed on one client connection
SAMPLED_STREAMS = 5  # per client process: streams that log every (symbol, id) for the visibility figure
QUIET_ENV = {"QUANTCORE_LOG_LEVEL": "WARNING"}  # the bench's child processes log warnings only


class Subscribers(Protocol):
    """Open streams, each past its snapshot: ready for the load."""

    pids: list[int]  # the client processes, for CPU figures

    def set_window(self, low: int, high: int) -> None:
        """Count updates with ids in [low, high] from now on."""

    def finish(self, expected: int, settle_s: float) -> list[dict[str, Any]]:
        """The load is written: wait for `expected` updates per stream (at most `settle_s`),
        close the streams and return each client process's result."""

    def stop(self) -> None:
        """End the client processes (after `finish`, or on an error)."""


def open_subscribers(client: str, address: str, count: int,
                     per_connection: int = STREAMS_PER_CONNECTION, feed: Feed = SIGNALS) -> Subscribers:
    """`count` streams of `feed` to `address` through `client` ("go" or "python"),
    `per_connection` to an HTTP/2 connection, ready for the load."""
    if per_connection < 1:
        raise PlatformError(f"bad per_connection={per_connection}", "use --set per_connection=N with N >= 1")
    if client == "go":
        if feed != SIGNALS:
            raise PlatformError(f"the Go load client speaks Subscribe only, not {feed.method}",
                                f"use --set client=python with feed={feed.name} (its default)")
        from bench.scenarios.fanout_go import GoSubscribers

        return GoSubscribers(address, count, per_connection)
    if client == "python":
        from bench.scenarios.fanout_python import PythonSubscribers

        return PythonSubscribers(address, count, per_connection=per_connection, feed=feed)
    raise PlatformError(f"unknown fanout client {client!r}", f"use --set client={' or client='.join(CLIENTS)}")


def clients_cpu_seconds(subscribers: Subscribers) -> float:
    """CPU seconds of the client processes so far, read from /proc like the server's."""
    return sum(cpu_seconds(pid) for pid in subscribers.pids)
