"""Data-quality checks of a replayed day, read with `deltalake` + polars (no JVM needed).

Each check returns a `CheckOutcome`; Dagster's asset checks (quantcore_platform/replay_assets.py)
turn them into results, the tests call them directly. The frame-level functions are pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl
from deltalake import DeltaTable

from quantcore.settings import KafkaSettings, PathsSettings
from streaming.spark.delta_tables import BOOK_SIGNALS, BOOKS_QUARANTINE, BOOKS_RAW, table_path
from streaming.spark.replay_plan import kafka_records_of_day


@dataclass
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)


def read_day(paths: PathsSettings, table: str, day: date, columns: list[str] | None = None) -> pl.DataFrame:
    """One day of a table (an empty frame if the table does not exist yet)."""
    path = table_path(paths, table)
    if not DeltaTable.is_deltatable(path):
        return pl.DataFrame()
    frame = pl.scan_delta(path).filter(pl.col("date") == day)
    if columns is None:
        return frame.collect()
    wanted = [c for c in columns if c in frame.collect_schema().names()]
    return frame.select(wanted).collect()


def rows_of_day(paths: PathsSettings, table: str, day: date) -> int:
    frame = read_day(paths, table, day, ["date"])
    return frame.height


# --- pure checks over frames -------------------------------------------------------------------

def obi_out_of_bounds(signals: pl.DataFrame) -> dict[str, int]:
    """Per obi_* column, the non-null values outside [-1, 1] (NaN counts as outside)."""
    columns = [c for c in signals.columns if c.startswith("obi_")]
    return {c: signals.select(((pl.col(c) < -1) | (pl.col(c) > 1) | pl.col(c).is_nan()).sum()).item() or 0
            for c in columns}


def duplicate_updates(signals: pl.DataFrame) -> int:
    """(symbol, update_id) pairs that appear more than once."""
    if signals.is_empty():
        return 0
    counts = signals.group_by("symbol", "update_id").len()
    return counts.filter(pl.col("len") > 1).height


def update_id_regressions(books: pl.DataFrame) -> pl.DataFrame:
    """Rows whose update id is not above the previous one of the symbol, in log order
    (Kafka timestamp, then partition and offset): the ingest went backwards or repeated."""
    if books.is_empty():
        return books
    ordered = books.sort("symbol", "kafka_timestamp_us", "kafka_partition", "kafka_offset")
    previous = pl.col("update_id").shift(1).over("symbol")
    return ordered.with_columns(previous.alias("previous_update_id")).filter(
        pl.col("previous_update_id").is_not_null() & (pl.col("update_id") <= pl.col("previous_update_id")))


# --- the checks of one day ------------------------------------------------------------------------

def check_obi_bounds(paths: PathsSettings, day: date) -> CheckOutcome:
    signals = read_day(paths, BOOK_SIGNALS, day, ["obi_1", "obi_5", "obi_10", "obi_20", "obi_weighted"])
    bad = obi_out_of_bounds(signals)
    return CheckOutcome(not any(bad.values()),
                        f"{day}: every obi_k within [-1, 1]" if not any(bad.values()) else
                        f"{day}: obi values outside [-1, 1]: {bad}",
                        {"rows": signals.height, "out_of_bounds": bad})


def check_no_duplicates(paths: PathsSettings, day: date) -> CheckOutcome:
    signals = read_day(paths, BOOK_SIGNALS, day, ["symbol", "update_id"])
    duplicates = duplicate_updates(signals)
    return CheckOutcome(duplicates == 0, f"{day}: {duplicates} duplicated (symbol, update_id)",
                        {"rows": signals.height, "duplicates": duplicates})


def check_update_ids_increasing(paths: PathsSettings, day: date) -> CheckOutcome:
    signals = read_day(paths, BOOK_SIGNALS, day,
                       ["symbol", "update_id", "kafka_timestamp_us", "kafka_partition", "kafka_offset"])
    regressions = update_id_regressions(signals)
    examples = regressions.head(5).to_dicts()
    return CheckOutcome(regressions.is_empty(),
                        f"{day}: {regressions.height} update ids not increasing per symbol",
                        {"rows": signals.height, "regressions": regressions.height, "examples": examples})


def check_row_count(paths: PathsSettings, kafka: KafkaSettings, day: date,
                    recorded_kafka_records: int | None = None) -> CheckOutcome:
    """books_raw + books_quarantine rows of the day == the Kafka records of the day. When Kafka no
    longer holds the whole day, compare with the count the replay recorded instead."""
    delta_rows = rows_of_day(paths, BOOKS_RAW, day) + rows_of_day(paths, BOOKS_QUARANTINE, day)
    kafka_now, whole = kafka_records_of_day(kafka, day)
    expected = kafka_now if whole or recorded_kafka_records is None else recorded_kafka_records
    source = "Kafka now" if whole or recorded_kafka_records is None else "Kafka at replay time (retention cut it since)"
    return CheckOutcome(delta_rows == expected,
                        f"{day}: {delta_rows} rows in Delta vs {expected} records in {source}",
                        {"delta_rows": delta_rows, "kafka_records": expected, "kafka_records_now": kafka_now,
                         "kafka_holds_whole_day": whole})


def check_retention(day: date, missing_ranges: list[dict] | None, skipped_days: list[str] | None) -> CheckOutcome:
    """Fails when the replay found that Kafka's retention had already dropped part of the day."""
    missing = [m for m in (missing_ranges or []) if m.get("date") == day.isoformat()]
    skipped = day.isoformat() in (skipped_days or [])
    if missing_ranges is None:
        return CheckOutcome(False, f"{day}: no replay metadata found (was the day materialized?)")
    verdict = "left unwritten (existing rows kept)" if skipped else "written partially"
    return CheckOutcome(not missing,
                        f"{day}: Kafka holds the whole day" if not missing else
                        f"{day}: Kafka retention dropped part of the day before the replay; {verdict}",
                        {"missing_ranges": missing, "skipped": skipped})
