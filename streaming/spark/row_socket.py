"""Real-time mode's way to Redis: Spark's tasks -> a socket in the driver -> SignalSink.

Spark's real-time trigger streams records through long-running tasks, one per Kafka
partition. A Python `ForeachWriter` would receive their rows in pickled batches only at the
epoch's end (measured: p50 ≈ 3 s with a 5 s epoch), so the query uses a JVM one,
`io.quantcore.spark.SocketRowWriter` (jvm/spark): each task connects to this process's
`RowSocket` and sends every computed row as a frame the moment it is computed. A thread here
reads all the connections and writes what each read brought with the same `SignalSink` as
the micro-batch mode: newest book per symbol, OFI chain, one pipelined write.

Before, the rows went through a relay topic in Kafka: a produce and a fetch more per row
(~0.1 core at the seed's load, and ~2 ms of the median). The socket keeps the guarantees:
- order: one connection per task, i.e. per Kafka partition, read in the order connections
  were accepted (a new epoch's task connects after the old one closed);
- nothing lost: a failed write is retried with the rows in hand and the connections not
  read meanwhile, so their buffers fill and the tasks block: the query stops reading Kafka
  until Redis takes writes again;
- a restart resumes where the writes stopped: after each write the newest source offset of
  every partition goes to Redis (`realtime_resume.save_progress`), and the next start of the
  query begins right after it.
A connection must open with this socket's token: only this query's tasks write through it.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import selectors
import socket
import struct
from collections.abc import Iterator, Mapping
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from quantcore.backoff import Backoff
from quantcore.log import get_logger
from quantcore.settings import KafkaSettings, RedisSettings
from streaming.spark.compute_rows import COMPUTED_COLUMNS
from streaming.spark.consumer_thread import ConsumerThread
from streaming.spark.realtime_resume import ProgressLog
from streaming.spark.redis_writer import SignalSink, WriteStats, sink_for

WRITE_RETRY_INITIAL_S, WRITE_RETRY_MAX_S = 0.2, 5.0  # Redis back within a second is written within ~0.2 s
READ_BYTES = 256 * 1024  # per connection and read: a burst of rows in one write
# The kernel's receive buffer a connection (it doubles the value; SocketRowWriter bounds its
# send buffer likewise). Autotuned, a loopback connection's grows to megabytes: an overloaded
# writer fell seconds behind (5,000 records/s offered: Kafka -> Redis p50 2.7 s) while the
# tasks, never blocked, took the cores from it. Small buffers block them instead (backpressure).
RECEIVE_BUFFER_BYTES = 128 * 1024
SELECT_TIMEOUT_S = 0.1  # how soon `stop()` is noticed
MAX_FRAME_BYTES = 64 * 1024 * 1024  # far above any book row; a larger length is not our frame
FRAME_LENGTH = struct.Struct(">i")
# partition, offset, update id, dead, exchange event µs, mid, symbol length (SocketRowWriter)
FRAME_HEAD = struct.Struct(">iqqBqdH")
NO_EVENT_TIME = -(2**63)  # Long.MIN_VALUE: the row's exchange_event_us is null


def socket_rows(computed: DataFrame) -> DataFrame:
    """The columns SocketRowWriter sends: where the row came from, its update id, whether it
    is a dead letter, what the writer reads of every book (event time and mid, for the realized
    volatility), its symbol (valid rows only) and the whole row as JSON."""
    dead = F.col("reason").isNotNull()
    return computed.select(
        F.col("source_partition").cast("int"), F.col("source_offset").cast("long"),
        F.col("update_id").cast("long"), dead.alias("dead"),
        F.col("exchange_event_us").cast("long"), F.col("mid").cast("double"),
        F.when(~dead, F.col("symbol")).alias("symbol"),
        F.to_json(F.struct(*COMPUTED_COLUMNS)).alias("json"))


def parse_row(value: bytes) -> dict:
    """A row's JSON back into a computed row (`to_json` omits nulls, base64s bytes)."""
    data = json.loads(value)
    row = {name: data.get(name) for name in COMPUTED_COLUMNS}
    if row["payload"] is not None:
        row["payload"] = base64.b64decode(row["payload"])
    return row


class SocketRow(Mapping):
    """A received frame as a computed row: the source, symbol, update id, dead flag, event
    time and mid come from the frame's head; the JSON is parsed on the first access to anything
    else (most rows are superseded by a newer book of their symbol and never are)."""

    __slots__ = ("partition", "offset", "symbol", "update_id", "dead", "exchange_event_us", "mid", "_json", "_row")

    def __init__(self, partition: int, offset: int, symbol: str, update_id: int, dead: bool, json_bytes: bytes,
                 exchange_event_us: int | None = None, mid: float | None = None):
        self.partition, self.offset = partition, offset
        self.symbol, self.update_id, self.dead = symbol, update_id, dead
        self.exchange_event_us, self.mid = exchange_event_us, mid
        self._json = json_bytes
        self._row: dict | None = None

    def __getitem__(self, name: str) -> Any:
        if name == "update_id":
            return self.update_id
        if not self.dead:  # a dead letter's symbol, times and mid are its JSON's
            if name == "symbol":
                return self.symbol
            if name == "reason":
                return None
            if name == "exchange_event_us":
                return self.exchange_event_us
            if name == "mid":
                return self.mid
        if self._row is None:
            self._row = parse_row(self._json)
        return self._row[name]

    def __iter__(self) -> Iterator[str]:
        return iter(COMPUTED_COLUMNS)

    def __len__(self) -> int:
        return len(COMPUTED_COLUMNS)


class FrameError(ValueError):
    """Bytes on a row connection that are not SocketRowWriter's frames."""


def split_frames(buffer: bytes | bytearray, max_bytes: int = MAX_FRAME_BYTES) -> tuple[list[bytes], int]:
    """The whole frames at the start of `buffer` (each without its length) and how many bytes
    they took; a partial frame at the end waits for the next read. A length outside 0 to
    `max_bytes` is refused at once (nothing is buffered for it)."""
    frames, at, size = [], 0, len(buffer)
    while size - at >= FRAME_LENGTH.size:
        (length,) = FRAME_LENGTH.unpack_from(buffer, at)
        if not 0 <= length <= max_bytes:
            raise FrameError(f"frame length {length} is outside 0..{max_bytes}")
        end = at + FRAME_LENGTH.size + length
        if end > size:
            break
        frames.append(bytes(buffer[at + FRAME_LENGTH.size:end]))
        at = end
    return frames, at


def decode_frame(frame: bytes) -> SocketRow:
    """One SocketRowWriter row frame (without its length)."""
    if len(frame) < FRAME_HEAD.size:
        raise FrameError(f"a row frame of {len(frame)} bytes is shorter than its {FRAME_HEAD.size}-byte head")
    partition, offset, update_id, dead, event_us, mid, symbol_length = FRAME_HEAD.unpack_from(frame)
    json_at = FRAME_HEAD.size + symbol_length
    if json_at > len(frame):
        raise FrameError(f"a symbol of {symbol_length} bytes does not fit a {len(frame)}-byte frame")
    symbol = frame[FRAME_HEAD.size:json_at].decode()
    # A valid book's mid is finite (book_validation), so NaN can only be a null.
    return SocketRow(partition, offset, symbol, update_id, bool(dead), frame[json_at:],
                     None if event_us == NO_EVENT_TIME else event_us, None if math.isnan(mid) else mid)


class _Connection:
    """One task's connection: its bytes not yet framed, and whether it said the token."""

    def __init__(self, sock: socket.socket, number: int) -> None:
        self.sock, self.number = sock, number
        self.buffer = bytearray()
        self.greeted = False


class RowSocket(ConsumerThread):
    """A daemon thread: the query's row connections -> SignalSink, until `stop()`. Listens on
    `host` (the driver's address, which the executors reach); without a `sink`, writes with the
    process's sink for `redis` and `kafka`, and saves each partition's progress for `book_topic`."""

    role = "row socket"

    def __init__(self, kafka: KafkaSettings, redis: RedisSettings, host: str, sink: SignalSink | None = None) -> None:
        self.kafka, self.redis, self.host = kafka, redis, host
        self.topic = kafka.book_topic  # named in ConsumerThread's start error
        self.sink = sink
        self.token = secrets.token_hex(16)
        self.stats = WriteStats()
        self.progress: ProgressLog | None = None
        self._listener = socket.create_server((host, 0), backlog=256)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)  # accepted ones inherit it
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._accepted = 0
        self._init_thread("compute-row-socket")
        self._log = get_logger("compute.row_socket", port=self.port)

    def jvm_writer(self, spark: SparkSession):
        """The query's ForeachWriter, pointed at this socket."""
        return spark.sparkContext._jvm.io.quantcore.spark.SocketRowWriter(self.host, self.port, self.token)

    def _run(self) -> None:
        try:
            self.sink = self.sink or sink_for(self.redis, self.kafka, remember=True)  # the symbols' one writer
            self.progress = ProgressLog(self.sink.store.client, self.kafka.book_topic)
            selector = selectors.DefaultSelector()
            selector.register(self._listener, selectors.EVENT_READ)
        except Exception as exc:  # noqa: BLE001 - reported through `error`, start() raises
            self.error = str(exc)
            return
        self._ready.set()
        try:
            while not self._stop.is_set():
                rows = self._read(selector)
                if rows:
                    self._write(rows)
                else:
                    self._save_quietly()
            self._drain(selector)
        finally:
            for key in list(selector.get_map().values()):
                key.fileobj.close()
            selector.close()

    def _save_quietly(self) -> None:
        """A quiet moment: save what the last write left unsaved (Redis down: at the next write)."""
        try:
            self.progress.save()
        except Exception as exc:  # noqa: BLE001 - the next write retries until Redis is back
            self.error = str(exc)

    def _drain(self, selector: selectors.BaseSelector) -> None:
        """At a stop (the query stopped first): write what the tasks sent last, once, and save
        the progress. Rows a failed write leaves are computed again at the next start."""
        while rows := self._read(selector, timeout_s=0):
            try:
                self.stats.add(self.sink.write(rows))
                self.progress.advance(rows)
            except Exception as exc:  # noqa: BLE001 - their offsets stay unsaved
                self._log.warning("rows sent at the stop not written", error=str(exc), rows=len(rows))
                break
        try:
            self.progress.save(force=True)
        except Exception as exc:  # noqa: BLE001 - the next start recomputes since the last save
            self._log.warning("progress not saved at the stop", error=str(exc))

    def _read(self, selector: selectors.BaseSelector, timeout_s: float = SELECT_TIMEOUT_S) -> list[SocketRow]:
        """Accept new connections; read every readable one, oldest connection first."""
        ready = [key for key, _ in selector.select(timeout_s)]
        rows: list[SocketRow] = []
        for key in sorted(ready, key=lambda k: -1 if k.data is None else k.data.number):
            if key.data is None:
                self._accept(selector)
            else:
                rows.extend(self._receive(selector, key.data))
        return rows

    def _accept(self, selector: selectors.BaseSelector) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            self._accepted += 1
            selector.register(sock, selectors.EVENT_READ, _Connection(sock, self._accepted))

    def _receive(self, selector: selectors.BaseSelector, conn: _Connection) -> list[SocketRow]:
        try:
            data = conn.sock.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            data = b""
        conn.buffer += data
        try:
            # Until the token came, nothing longer than the token is buffered for a stranger.
            frames, used = split_frames(conn.buffer, MAX_FRAME_BYTES if conn.greeted else len(self.token))
            del conn.buffer[:used]
            if frames and not conn.greeted:
                hello, *frames = frames
                if hello != self.token.encode():
                    raise FrameError("the connection did not open with this query's token")
                conn.greeted = True
            rows = [decode_frame(frame) for frame in frames]
        except (FrameError, UnicodeDecodeError) as exc:
            self._log.error("dropping a row connection that does not speak SocketRowWriter's frames",
                            error=str(exc), connection=conn.number)
            self._close(selector, conn)
            return []
        if not data:
            self._close(selector, conn)
        return rows

    def _close(self, selector: selectors.BaseSelector, conn: _Connection) -> None:
        selector.unregister(conn.sock)
        conn.sock.close()

    def _write(self, rows: list[SocketRow]) -> None:
        """Write until it succeeds: the rows stay in hand and no connection is read meanwhile,
        so a Redis outage delays them (and holds the query back), and write-if-newer makes
        the retries harmless."""
        backoff = Backoff(WRITE_RETRY_INITIAL_S, WRITE_RETRY_MAX_S)
        while not self._stop.is_set():
            try:
                self.stats.add(self.sink.write(rows))
                self.progress.advance(rows)
                self.error = None
                return
            except Exception as exc:  # noqa: BLE001 - Redis/Kafka down: keep the rows, retry
                self.error = str(exc)
                delay = backoff.next()
                self._log.warning("row write failed, retrying", error=str(exc), rows=len(rows),
                                  retry_in_s=round(delay, 2))
                self._stop.wait(delay)

    def stop(self) -> None:
        if self._thread.ident is not None:  # started: else there is no thread to join
            super().stop()
        self._listener.close()

