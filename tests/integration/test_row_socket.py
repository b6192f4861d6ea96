"""The real-time query's row path, its Java half and its Python half together: rows sent by
`io.quantcore.spark.SocketRowWriter` (jvm/spark, in the session's JVM) reach Redis through
`RowSocket`, the progress they make is saved for the next start, and a connection without
the query's token writes nothing."""

from __future__ import annotations

import json
import socket
import struct

import pytest

from quantcore.polling import wait_until
from quantcore.signal_store import signal_key
from streaming.spark.compute_rows import COMPUTED_COLUMNS
from streaming.spark.realtime_resume import progress_key, written_source_offsets
from streaming.spark.row_socket import RowSocket

pytestmark = pytest.mark.slow


def computed(symbol: str, update_id: int, bid: float) -> str:
    row = dict.fromkeys(COMPUTED_COLUMNS)
    row.update(symbol=symbol, exchange="binance", update_id=update_id, mode="BOOK_MODE_LOCAL_BOOK",
               exchange_event_us=1, ingest_us=2, kafka_append_us=3, compute_us=4, obi_1=0.25,
               mid=bid + 0.5, best_bid=bid, best_ask=bid + 1, best_bid_qty=1.0, best_ask_qty=2.0)
    return json.dumps({k: v for k, v in row.items() if v is not None})


def jvm_rows(spark, rows: list[tuple]) -> list:
    """Spark Rows of socket_rows' columns, as the JVM holds them (int, long, long, boolean, ...)."""
    schema = ("source_partition int, source_offset long, update_id long, dead boolean, exchange_event_us long, "
              "mid double, symbol string, json string")
    return list(spark.createDataFrame(rows, schema)._jdf.collectAsList())


def test_rows_from_the_java_writer_reach_redis_and_leave_their_progress(spark, redis_conn, kafka, fresh_topic):
    settings = kafka.override(book_topic=fresh_topic)
    rows = RowSocket(settings.kafka, settings.redis, "127.0.0.1").start()
    try:
        writer = rows.jvm_writer(spark)
        assert writer.open(4, 0)
        sent = [(4, 10 + n, n + 1, False, 1, 100.5 + n, "BTCUSDT", computed("BTCUSDT", n + 1, 100.0 + n))
                for n in range(5)]
        sent.append((4, 15, 0, True, None, None, None, json.dumps({"key": "BTCUSDT", "reason": "missing update id",
                                                        "payload": "AP8=", "source_topic": fresh_topic})))
        for row in jvm_rows(spark, sent):
            writer.process(row)
        writer.close(None)

        wait_until(lambda: redis_conn.hget(signal_key("BTCUSDT"), "update_id") == b"5", 10, "the newest book in Redis")
        assert float(redis_conn.hget(signal_key("BTCUSDT"), "best_bid")) == 104.0
        wait_until(lambda: written_source_offsets(redis_conn, fresh_topic) == {4: 15}, 10,
                   "the dead letter's offset saved as the partition's progress")
        wait_until(lambda: rows.stats.rows == 6, 10, "every row counted")
        assert rows.stats.dead_letters == 1 and rows.error is None
    finally:
        rows.stop()
    assert rows.alive is False
    redis_conn.delete(progress_key(fresh_topic))


def test_a_connection_without_the_token_is_dropped_and_writes_nothing(redis_conn, kafka, fresh_topic):
    settings = kafka.override(book_topic=fresh_topic)
    rows = RowSocket(settings.kafka, settings.redis, "127.0.0.1").start()
    try:
        body = json.dumps({"symbol": "ETHUSDT"}).encode()
        frame = struct.pack(">iqqBqdH", 0, 1, 7, 0, 1, 2.0, 7) + b"ETHUSDT" + body
        stranger = socket.create_connection(("127.0.0.1", rows.port))
        stranger.sendall(struct.pack(">i", 5) + b"guess" + struct.pack(">i", len(frame)) + frame)
        stranger.settimeout(10)
        assert stranger.recv(1) == b"", "the socket closed the connection"
        stranger.close()
        assert not redis_conn.exists(signal_key("ETHUSDT")) and rows.stats.rows == 0
        assert rows.alive, "one bad connection does not stop the writer"
        hoarder = socket.create_connection(("127.0.0.1", rows.port))
        hoarder.sendall(struct.pack(">i", 1 << 30))  # asks the socket to buffer a gigabyte before the token
        hoarder.settimeout(10)
        assert hoarder.recv(1) == b"", "refused at its length, before any of its bytes"
        hoarder.close()
    finally:
        rows.stop()
