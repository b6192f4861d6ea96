"""The fanout benchmark's Python subscribers: grpc.aio streams in worker processes.

The streams are multiplexed in one or two worker processes (many streams per channel, on
uvloop like the server). A worker stamps each message as it arrives and keeps its bytes;
it decodes and checks every update once the load is written and the streams are quiet
(`tally`), so its bookkeeping neither competes with the server for the 2 cores nor delays
the stamps. The Go client (`fanout_go.py`) is the default; these stay for comparison
(`--set client=python`), and are the books feed's subscribers (the Go client speaks
`Subscribe` only): the feed (fanout_feeds.py) says which RPC they open and how they read it.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import time
from array import array
from typing import Any

import grpc

from bench.scenarios.fanout_clients import QUIET_ENV, SAMPLED_STREAMS, STREAMS_PER_CONNECTION
from bench.scenarios.fanout_feeds import SIGNALS, Feed

STREAMS_PER_WORKER = 500  # subscriber streams per client process
SERVICE = "quantcore.v1.MarketData"


class PythonSubscribers:
    """`count` streams in worker processes of STREAMS_PER_WORKER streams at most."""

    def __init__(self, address: str, count: int, per_worker: int = STREAMS_PER_WORKER,
                 per_connection: int = STREAMS_PER_CONNECTION, feed: Feed = SIGNALS) -> None:
        self.workers = start_workers(address, count, per_worker, per_connection, feed)
        self.pids = [process.pid for process, _ in self.workers]

    def set_window(self, low: int, high: int) -> None:
        for _, conn in self.workers:
            conn.send(("window", low, high))
        for _, conn in self.workers:
            _receive(conn, 30)

    def finish(self, expected: int, settle_s: float) -> list[dict[str, Any]]:
        for _, conn in self.workers:
            conn.send(("finish", expected, settle_s))
        return [_receive(conn, settle_s + 60) for _, conn in self.workers]

    def stop(self) -> None:
        for worker, _ in self.workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()


def subscriber_worker(address: str, streams: int, per_connection: int, conn, feed: Feed = SIGNALS) -> None:
    os.environ.update(QUIET_ENV)
    try:
        import uvloop  # the server's loop too: a fair client costs what the server does per message
    except ImportError:
        asyncio.run(_subscribers(address, streams, per_connection, conn, feed))
    else:
        uvloop.run(_subscribers(address, streams, per_connection, conn, feed))


class StreamStats:
    """One stream's messages as received, decoded and counted by `tally`."""

    __slots__ = ("snapshot", "received_us", "messages", "tallied", "count", "newest", "errors", "seen")

    def __init__(self, sampled: bool) -> None:
        self.snapshot = False
        # Receive stamps and bytes side by side: no object per message for the collector to scan.
        self.received_us = array("q")
        self.messages: list[bytes] = []
        self.tallied = 0  # messages already decoded
        self.count = 0  # updates received inside the measured id window
        self.newest = 0  # the highest update id received
        self.errors = 0
        self.seen: list[tuple[str, int, int]] | None = [] if sampled else None  # (symbol, id, receive µs)


async def _read(call, stats: StreamStats, feed: Feed) -> None:
    """The receive path: stamp each message as it arrives and keep its bytes.

    Decoding and checking every update of 100+ streams in the worker's one Python thread
    while the load runs made the benchmark's clients, not the server, the bottleneck (a full
    core in `spread`): `tally` does it once the load is written, from the receive stamps."""
    stamps, messages = stats.received_us, stats.messages
    try:
        async for raw in call:
            stamps.append(time.time_ns() // 1000)
            messages.append(raw)
            if not stats.snapshot:
                stats.snapshot = feed.parse(raw).snapshot
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.CANCELLED:
            stats.errors += 1


def tally(stats: StreamStats, low: int, high: int, latencies: array, hops: array, feed: Feed = SIGNALS) -> None:
    """Decode the messages received since the last tally; count and time the window's updates."""
    start, stats.tallied = stats.tallied, len(stats.messages)
    for received_us, raw in zip(stats.received_us[start:stats.tallied], stats.messages[start:stats.tallied]):
        message = feed.parse(raw)
        if message.snapshot:
            continue
        counted = 0
        for symbol, update_id, start_us in message.updates:
            stats.newest = max(stats.newest, update_id)
            if low <= update_id <= high:
                counted += 1
                latencies.append(received_us - start_us)
                if stats.seen is not None:
                    stats.seen.append((symbol, update_id, received_us))
        if counted:
            stats.count += counted
            # Per message: its oldest update's entry into the server's input -> server send,
            # and server send -> receive.
            hops.append(message.server_send_us - message.hop_start_us)
            hops.append(received_us - message.server_send_us)


def complete(stats: StreamStats, expected: int, high: int) -> bool:
    """Every update arrived, or (after a quiet spell) the window's last tick did: the server
    conflates a client that fell behind to the newest update per symbol, so the superseded
    ones never come and waiting for them would only run the settle time out."""
    return stats.count >= expected or stats.newest >= high


async def _until_quiet(stats: list[StreamStats], deadline: float, quiet_s: float = 0.3) -> None:
    """Until no stream has received anything for `quiet_s` (or the deadline)."""
    received = -1
    while time.monotonic() < deadline:
        now_received = sum(len(s.messages) for s in stats)
        if now_received == received:
            return
        received = now_received
        await asyncio.sleep(quiet_s)


async def _subscribers(address: str, streams: int, per_connection: int, conn, feed: Feed) -> None:
    loop = asyncio.get_running_loop()
    # A local subchannel pool per channel: channels to one address otherwise share a connection.
    options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.aio.insecure_channel(address, options=options)
                for _ in range(math.ceil(streams / per_connection))]
    stats = [StreamStats(sampled=i < SAMPLED_STREAMS) for i in range(streams)]
    latencies, hops = array("q"), array("q")
    calls, tasks = [], []
    for i, stat in enumerate(stats):
        subscribe = channels[i // per_connection].unary_stream(f"/{SERVICE}/{feed.method}")
        call = subscribe(feed.request())  # requests and responses stay bytes (responses until `tally`)
        calls.append(call)
        tasks.append(asyncio.create_task(_read(call, stat, feed)))
    while not all(s.snapshot or s.errors for s in stats):
        await asyncio.sleep(0.05)
    conn.send(("ready", sum(s.errors for s in stats)))
    _, low, high = await loop.run_in_executor(None, conn.recv)  # update ids to count
    conn.send("window set")
    _, expected, settle_s = await loop.run_in_executor(None, conn.recv)  # the writer is done
    receive_cpu_s = time.process_time()  # what receiving the load cost (tallying comes after)
    deadline = time.monotonic() + settle_s
    while True:
        await _until_quiet(stats, deadline)  # tallying while a backlog arrives would delay its stamps
        for stat in stats:
            tally(stat, low, high, latencies, hops, feed)
        if time.monotonic() >= deadline or all(complete(s, expected, high) for s in stats):
            break
    for call in calls:
        call.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close()
    conn.send({"counts": [s.count for s in stats], "errors": sum(s.errors for s in stats),
               "latencies_us": latencies.tobytes(), "hops_us": hops.tobytes(),
               "seen": [s.seen for s in stats if s.seen is not None], "cpu_s": receive_cpu_s})


def start_workers(address: str, subscribers: int, per_worker: int = STREAMS_PER_WORKER,
                  per_connection: int = STREAMS_PER_CONNECTION,
                  feed: Feed = SIGNALS) -> list[tuple[multiprocessing.Process, Any]]:
    context = multiprocessing.get_context("spawn")
    workers, remaining = [], subscribers
    count = math.ceil(subscribers / per_worker)
    for index in range(count):
        streams = remaining // (count - index)
        remaining -= streams
        parent, child = context.Pipe()
        process = context.Process(target=subscriber_worker, args=(address, streams, per_connection, child, feed),
                                  daemon=True)
        process.start()
        workers.append((process, parent))
    for process, conn in workers:
        _, errors = _receive(conn, 120)
        if errors:
            raise RuntimeError(f"{errors} subscriber streams failed to open")
    return workers


def _receive(conn, timeout: float):
    if not conn.poll(timeout):
        raise TimeoutError(f"a subscriber worker did not answer within {timeout:g}s")
    return conn.recv()

