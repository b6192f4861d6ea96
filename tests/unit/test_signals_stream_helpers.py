"""Pure helpers of the compute stream: heartbeat counters from query progress, task slots,
and the SignalUpdate built from a computed row."""

from __future__ import annotations

import json

from quantcore import wire
from streaming.spark.compute_rows import COMPUTED_COLUMNS
from streaming.spark.query_progress import progress_counters, progress_dict
from streaming.spark.row_socket import parse_row
from streaming.spark.redis_writer import signal_update
from quantcore.spark_session import local_threads, with_task_slots

PROGRESS = {
    "batchId": 7, "numInputRows": 300, "inputRowsPerSecond": 290.44, "processedRowsPerSecond": 2999.97,
    "durationMs": {"triggerExecution": 100, "addBatch": 80},
    "sources": [{"latestOffset": {"qc.books.v1": {"0": 10, "1": 32}}, "endOffset": {"qc.books.v1": {"0": 9, "1": 30}}}],
}


class FakeProgress(dict):
    @property
    def json(self) -> str:
        return json.dumps(dict(self))


def test_progress_counters():
    counters = progress_counters(progress_dict(FakeProgress(PROGRESS)))
    assert counters == {
        "batch_id": 7, "input_rows": 300, "input_rows_per_s": 290.4, "processed_rows_per_s": 3000.0,
        "batch_duration_ms": 100, "batch_phases_ms": {"addBatch": 80},
        "latest_offsets": {"qc.books.v1/0": 10, "qc.books.v1/1": 32}, "latest_offset_total": 42,
    }
    assert progress_counters(progress_dict(None)) == {"batch_id": -1}
    as_string = {**PROGRESS, "sources": [{"latestOffset": json.dumps({"t": {"3": 5}})}]}
    assert progress_counters(as_string)["latest_offsets"] == {"t/3": 5}


def test_local_masters_get_enough_task_slots():
    assert local_threads("local[2]") == 2 and local_threads("local") == 1 and local_threads("yarn") is None
    assert with_task_slots("local[2]", 32) == "local[32]"
    assert with_task_slots("local[2,4]", 32) == "local[32,4]"
    assert with_task_slots("local[64]", 32) == "local[64]"
    assert with_task_slots("spark://master:7077", 32) == "spark://master:7077"
    assert with_task_slots("local[2]", None) == "local[2]"


def computed_row(**values) -> dict:
    row = dict.fromkeys(COMPUTED_COLUMNS)
    row.update(symbol="BTCUSDT", exchange="binance", update_id=2**62, mode="BOOK_MODE_LOCAL_BOOK",
               exchange_event_us=1, ingest_us=2, kafka_append_us=3, compute_us=4, obi_1=0.0, mid=100.5,
               best_bid=100.0, best_ask=101.0)
    row.update(values)
    return row


def test_signal_update_sets_only_defined_signals():
    update = signal_update(computed_row(), ofi=-1.5)
    assert update.update_id == 2**62 and update.mode == wire.BookMode.BOOK_MODE_LOCAL_BOOK
    assert {f.name for f, _ in update.signals.ListFields()} == {"obi_1", "mid", "best_bid", "best_ask", "ofi"}
    assert update.signals.obi_1 == 0.0 and update.signals.ofi == -1.5
    assert (update.times.exchange_event_us, update.times.ingest_us, update.times.kafka_append_us,
            update.times.compute_us) == (1, 2, 3, 4)
    empty = signal_update(computed_row(obi_1=None, mid=None, best_bid=None, best_ask=None, mode="?"), ofi=None)
    assert empty.HasField("signals") and not empty.signals.ListFields() and empty.mode == 0


def test_rows_round_trip_spark_json():
    """What Spark's `to_json` writes (nulls omitted, bytes as base64) reads back as a row."""
    text = json.dumps({"symbol": "X", "update_id": 5, "reason": "bad", "payload": "AP8=", "obi_1": 1.0e-4})
    row = parse_row(text.encode())
    assert set(row) == set(COMPUTED_COLUMNS)
    assert row["payload"] == b"\x00\xff" and row["obi_1"] == 0.0001 and row["mid"] is None


def test_arrow_rows_read_like_the_rows_they_come_from():
    """The micro-batch writer's rows: an Arrow batch read lazily gives the same values (and
    the same SignalUpdate) as the plain rows, and superseded books keep their place."""
    import pyarrow as pa

    from streaming.spark.newest_books import NewestBooks
    from streaming.spark.redis_writer import PRE_READ_COLUMNS, ArrowRow

    rows = [computed_row(update_id=uid, obi_1=uid / 10, best_bid=100.0 + uid) for uid in (3, 5, 4)]
    rows.append(computed_row(symbol="ETHUSDT", update_id=1, reason="bad", payload=b"\x00"))
    batch = pa.RecordBatch.from_pylist(rows)
    read = {name: batch.column(name).to_pylist() for name in PRE_READ_COLUMNS}
    arrow_rows = [ArrowRow(batch, index, read) for index in range(batch.num_rows)]

    assert [dict(row) for row in arrow_rows] == rows
    assert signal_update(arrow_rows[1], ofi=0.5) == signal_update(rows[1], ofi=0.5)
    books = NewestBooks()
    for row in arrow_rows[:3]:
        books.add(row)
    assert books.newest["BTCUSDT"].row["update_id"] == 5 and books.superseded == 2
    assert books.newest["BTCUSDT"].before["best_bid"] == 103.0
