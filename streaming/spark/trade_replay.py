"""Replay the Kafka trade topic into Delta Lake: `trades` and `trades_quarantine`.

The book replay (replay_job.py) calls `replay_trades` for the days it writes: the same
days, the same mechanism (one Kafka read per run of consecutive days, offsets by Kafka
timestamp, `date` = UTC day of the Kafka timestamp, each written day replaced exactly by
`replaceWhere`), from `settings.kafka.trade_topic` instead of the book topic. A day that
the trade topic's retention has cut is skipped (its rows kept) unless `allow_partial`, as
for books. When the trade topic does not exist, the replay writes books only and says so
(`TradeReplay.status`); when it has no record of a day, that day of `trades` is emptied
(the replay is what Kafka holds, as for books).

TradeRecords (proto/quantcore/v1/trade.proto) are decoded by the generic protobuf UDF
(protobuf_decode.decode with wire.TRADE_MESSAGE). `price` and `qty` keep the exchange's
strings untouched (`price_text`, `qty_text`) and become exact DECIMALs with books_raw's
scales (`price` DECIMAL(18, 8), `qty` DECIMAL(18, 6)); a trade whose strings those
decimals cannot hold unchanged, with no symbol, a quantity that is not positive, or that
does not decode, goes to `trades_quarantine` with its bytes and the reason (a second Kafka
read, only when there is one).

Trade flow: every row of `trades` also has the trade-flow windows at that trade
(`trade_count_<w>`, `vwap_<w>`, `tfi_<w>` for 1 s, 10 s, 60 s), computed by trade_flow.py,
the live trade-flow writer's own code, per symbol in Kafka order (`with_trade_flow`), so
they equal what the writer published to Redis. The windows at the start of a run of days
need the trades just before it: the replay also reads the trade topic from WARMUP_S before
the run's first day (the previous day's last 70 s) to warm them up, without writing those
rows. When retention already removed them, the first minute of the run is its warm-up
(its windows see fewer trades than the live writer did).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, DoubleType, LongType, StructField, StructType

from quantcore.clients import admin_client
from quantcore.log import get_logger
from quantcore.settings import KafkaSettings, Settings
from quantcore.wire import TRADE_MESSAGE
from streaming.spark import book_layout, delta_tables
from streaming.spark.kafka_rows import kafka_day_rows
from streaming.spark.protobuf_decode import decode
from streaming.spark.replay_offsets import KafkaLog, day_start_ms
from streaming.spark.replay_plan import KafkaRun, ReplayPlan, plan_replay
from streaming.spark.trade_flow import WINDOWS_US, BadTrade, TradeFlowState, flow_columns

TRADES = "trades"
TRADES_QUARANTINE = "trades_quarantine"
TRADE_TABLES = (TRADES, TRADES_QUARANTINE)

log = get_logger("replay.trades")

PRICE_TYPE = DecimalType(book_layout.PRECISION, book_layout.scale("px"))
QTY_TYPE = DecimalType(book_layout.PRECISION, book_layout.scale("qty"))

UNDECODABLE = f"undecodable: not a {TRADE_MESSAGE} protobuf"
MISSING_SYMBOL = "missing symbol"
UNFIT_PRICE = (f"price does not fit the trades table's exact DECIMAL({book_layout.PRECISION}, "
               f"{book_layout.scale('px')}): more decimals or digits, or not a plain decimal number")
UNFIT_QTY = (f"qty does not fit the trades table's exact DECIMAL({book_layout.PRECISION}, "
             f"{book_layout.scale('qty')}): more decimals or digits, or not a plain decimal number")
NON_POSITIVE_QTY = "qty is not positive"

# Table order: the record's identity, the print, its times, provenance, Kafka, the day.
TRADE_COLUMNS = ["exchange", "symbol", "stream", "trade_id", "first_trade_id", "last_trade_id", "price", "qty",
                 "price_text", "qty_text", "aggressor", "trade_time_us", "event_time_us", "ingest_time_us",
                 "shard_id", "origin", "simulator_seed"]
KAFKA_COLUMNS = ["kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp_us", "kafka_timestamp_type"]
QUARANTINE_COLUMNS = [*KAFKA_COLUMNS, "kafka_key", "payload", "reason", "date"]

FLOW_COLUMNS = [name for name, _ in flow_columns(WINDOWS_US)]
WARMUP_S = max(WINDOWS_US) // 1_000_000 + 10  # the longest window, and Kafka timestamps trailing trade times

TIME_NOTE = delta_tables.TIME_NOTE
COMMENTS = {
    "stream": "exchange stream of the record: TRADE_STREAM_TRADE (<sym>@trade, one row per exchange trade) or "
              "TRADE_STREAM_AGG_TRADE (<sym>@aggTrade, the fills of one taker order at one price)",
    "trade_id": "@trade: the exchange trade id; @aggTrade: the aggregate id. +1 per record of a symbol and stream: "
                "a jump is a gap",
    "first_trade_id": "first exchange trade id the record covers (@aggTrade `f`; @trade: = trade_id)",
    "last_trade_id": "last exchange trade id the record covers (@aggTrade `l`; @trade: = trade_id)",
    "price": f"trade price, exact DECIMAL({book_layout.PRECISION}, {book_layout.scale('px')}) of price_text",
    "qty": f"trade quantity, exact DECIMAL({book_layout.PRECISION}, {book_layout.scale('qty')}) of qty_text, > 0",
    "price_text": "trade price exactly as the exchange sent it (decimal string)",
    "qty_text": "trade quantity exactly as the exchange sent it (decimal string)",
    "aggressor": "side that took liquidity: AGGRESSOR_SIDE_BUY (Binance m = false) or AGGRESSOR_SIDE_SELL (m = true)",
    "trade_time_us": f"when the exchange matched the trade (T), {TIME_NOTE}",
    "event_time_us": f"when the exchange sent the event (E), {TIME_NOTE}",
    "ingest_time_us": f"receipt of the frame on the ingest shard, {TIME_NOTE}",
    "shard_id": "ingest shard that produced the record",
}
for _name, _kind in flow_columns(WINDOWS_US):
    _what, _window = _name.rsplit("_", 1)
    COMMENTS[_name] = {
        "trade_count": f"trades of the symbol with trade_time_us in (t - {_window}, t], t this trade's (itself included)",
        "vwap": f"volume-weighted average price of the symbol's trades in (t - {_window}, t]",
        "tfi": f"trade-flow imbalance (buy - sell volume) / volume of the symbol's trades in (t - {_window}, t]",
    }[_what] + "; the live trade-flow writer's value (Redis qc:trade_flow); null for a duplicate or late trade id"

DESCRIPTIONS = {
    TRADES: "Every trade record of the Kafka trade topic, as ingested, one row per record: its fields, price and "
            "qty both as the exchange's strings and as exact decimals, and its Kafka coordinates. Rebuilt by "
            "`quantcore replay` (the book replay writes it for the same days).",
    TRADES_QUARANTINE: "Kafka records of the trade topic that are not a TradeRecord with a symbol, a positive qty "
                       "and a price and qty the trades table holds exactly, kept with their offsets, bytes and "
                       "the reason instead of failing the day.",
}
_STATS = ("kafka_partition", "kafka_offset", "kafka_timestamp_us")
STATS_COLUMNS = {TRADES: ("symbol", "trade_id", "trade_time_us", *_STATS), TRADES_QUARANTINE: _STATS}


def register_tables() -> None:
    """Let delta_tables create these tables like its own (description, comments, stats
    columns). The shared names (symbol, origin, kafka_*, date, reason, ...) keep its comments."""
    delta_tables.DESCRIPTIONS.update(DESCRIPTIONS)
    delta_tables.STATS_COLUMNS.update(STATS_COLUMNS)
    for name, comment in COMMENTS.items():
        delta_tables.COMMENTS.setdefault(name, comment)


register_tables()


@dataclass
class TradeReplay:
    """What the trade half of a replay did (plain JSON-able values)."""

    topic: str
    status: str  # "written", "no trade topic", "no day to write"
    written_days: list[str] = field(default_factory=list)
    skipped_days: list[str] = field(default_factory=list)  # cut by the trade topic's retention
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows over the written days
    rows_by_day: dict[str, dict[str, int]] = field(default_factory=dict)
    kafka_records: dict[str, int] = field(default_factory=dict)
    records_read: int = 0
    quarantined: int = 0
    missing_ranges: list[dict] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


# --- decoding ------------------------------------------------------------------------------------

def plain_decimal_fits(text: Column, scale: int) -> Column:
    """True when `text` is a plain decimal ([+-]digits[.digits], a digit somewhere) that
    DECIMAL(PRECISION, scale) holds unchanged: trailing zeros of the fraction and leading
    zeros of the whole part aside. Spark's cast would round the rest (book_layout.fits is
    the same rule in plain Python)."""
    pattern = r"^[+-]?([0-9]*)(\.([0-9]*))?$"
    whole = F.regexp_replace(F.regexp_extract(text, pattern, 1), "^0+", "")
    fraction = F.regexp_replace(F.regexp_extract(text, pattern, 3), "0+$", "")
    return (F.coalesce(text.rlike(pattern), F.lit(False)) & text.rlike("[0-9]")
            & (F.length(fraction) <= scale) & (F.length(whole) <= book_layout.PRECISION - scale))


def decoded_trades(kafka: DataFrame, days: list[date]) -> DataFrame:
    """Kafka rows of `days` with the decoded TradeRecord (`trade`, null when undecodable),
    the Kafka coordinates and `date`, as replay_job.decoded_records does for books."""
    return kafka_day_rows(kafka, days, decode(F.col("value"), TRADE_MESSAGE).alias("trade"))


def quarantine_reason(trade: Column) -> Column:
    """Why a record has no place in `trades` (null: it has one)."""
    return (F.when(trade.isNull(), UNDECODABLE)
            .when(trade["symbol"] == "", MISSING_SYMBOL)
            .when(~plain_decimal_fits(trade["price"], PRICE_TYPE.scale), UNFIT_PRICE)
            .when(~plain_decimal_fits(trade["qty"], QTY_TYPE.scale), UNFIT_QTY)
            .when(trade["qty"].try_cast(QTY_TYPE) <= 0, NON_POSITIVE_QTY))


def trade_rows(decoded: DataFrame) -> DataFrame:
    """Every well-formed trade, its fields as decoded plus the exact decimals."""
    trade = F.col("trade")
    fields = {name: trade[name] for name in TRADE_COLUMNS if name not in ("price", "qty", "price_text", "qty_text")}
    fields |= {"price": trade["price"].try_cast(PRICE_TYPE), "qty": trade["qty"].try_cast(QTY_TYPE),
               "price_text": trade["price"], "qty_text": trade["qty"]}
    return (decoded.where(quarantine_reason(trade).isNull())
            .select(*(fields[name].alias(name) for name in TRADE_COLUMNS), *KAFKA_COLUMNS, "date"))


class _FlowColumns:
    """mapInArrow function: a partition's rows, sorted by symbol and Kafka order, with the
    trade-flow window values of each (trade_flow.TradeFlowState, as the live writer)."""

    def __init__(self, windows_us=WINDOWS_US) -> None:
        self.windows_us = tuple(windows_us)

    def __call__(self, batches):
        import pyarrow as pa

        from quantcore.wire import AggressorSide

        state = TradeFlowState(self.windows_us)
        kinds = flow_columns(self.windows_us)
        types = [pa.int64() if kind == "count" else pa.float64() for _, kind in kinds]
        empty = (None,) * len(kinds)
        for batch in batches:
            columns = [batch.column(name).to_pylist()
                       for name in ("symbol", "trade_id", "trade_time_us", "price_text", "qty_text", "aggressor")]
            values = []
            for symbol, trade_id, time_us, price, qty, aggressor in zip(*columns):
                side = AggressorSide.Value(aggressor) if isinstance(aggressor, str) else (aggressor or 0)
                try:
                    values.append(state.add(symbol, trade_id, time_us, price, qty, side) or empty)
                except BadTrade:
                    values.append(empty)
            added = [pa.array([row[i] for row in values], type=t) for i, t in enumerate(types)]
            schema = batch.schema
            for (name, _), t in zip(kinds, types):
                schema = schema.append(pa.field(name, t))
            yield pa.RecordBatch.from_arrays([*batch.columns, *added], schema=schema)


def with_trade_flow(trades: DataFrame, windows_us=WINDOWS_US) -> DataFrame:
    """`trades` rows with their trade-flow windows: each symbol's rows in one task, in Kafka
    order (the live writer's), through trade_flow.TradeFlowState."""
    added = [StructField(name, LongType() if kind == "count" else DoubleType())
             for name, kind in flow_columns(windows_us)]
    ordered = trades.repartition("symbol").sortWithinPartitions("symbol", "kafka_partition", "kafka_offset")
    return ordered.mapInArrow(_FlowColumns(windows_us), StructType([*trades.schema.fields, *added]))


@dataclass
class WarmupPlan:
    """The Kafka reads before each run of days (read_runs takes it like a ReplayPlan)."""

    topic: str
    warm_runs: list[KafkaRun]

    def runs(self) -> list[KafkaRun]:
        return self.warm_runs

    @property
    def days(self) -> list[date]:
        return sorted({run.days[0] for run in self.warm_runs})


def warmup_plan(kafka: KafkaSettings, plan: ReplayPlan) -> WarmupPlan:
    """Per run of days: from WARMUP_S before its first day to where the run starts. Its
    `days` are the previous days (the records' dates)."""
    marks = {log.partition: (log.low, log.high) for log in plan.logs}
    runs = []
    with KafkaLog(kafka, plan.topic) as kafka_log:
        for run in plan.runs():
            start = kafka_log.offsets_at(day_start_ms(run.days[0]) - WARMUP_S * 1000, marks)
            previous = date.fromordinal(run.days[0].toordinal() - 1)
            runs.append(KafkaRun([previous], {p: min(start.get(p, end), end) for p, end in run.start.items()},
                                 dict(run.start)))
    return WarmupPlan(plan.topic, runs)


def quarantine_rows(decoded: DataFrame) -> DataFrame:
    return (decoded.select("*", quarantine_reason(F.col("trade")).alias("reason"))
            .where(F.col("reason").isNotNull()).select(*QUARANTINE_COLUMNS))


# --- the job -------------------------------------------------------------------------------------

ReadRuns = Callable[[SparkSession, KafkaSettings, ReplayPlan], DataFrame]


def topic_exists(kafka: KafkaSettings, topic: str) -> bool:
    """Listed by the broker (the whole list: asking for one topic may auto-create it)."""
    return topic in admin_client(kafka).list_topics(timeout=15).topics


def replay_trades(spark: SparkSession, settings: Settings, days: list[date], allow_partial: bool,
                  read_runs: ReadRuns, empty_kafka: Callable[[], DataFrame]) -> TradeReplay:
    """Write `trades` and `trades_quarantine` for `days` (the book replay's written days)
    from the trade topic. `read_runs` and `empty_kafka` are the book replay's Kafka reader
    and empty Kafka frame (replay_job.py), so both topics are read the same way."""
    kafka, paths, replay_settings = settings.kafka, settings.paths, settings.replay
    topic = kafka.trade_topic
    if not days:
        return TradeReplay(topic, "no day to write")
    if not topic_exists(kafka, topic):
        note = f"trade topic {topic!r} does not exist: trades not replayed (books only), their tables untouched"
        log.warning("no trade topic", topic=topic)
        return TradeReplay(topic, "no trade topic", note=note)
    plan = plan_replay(kafka, days, allow_partial, topic=topic)
    if plan.incomplete:
        log.warning("kafka retention cut trade days", missing=plan.missing_ranges(),
                    skipped=[d.isoformat() for d in plan.skipped_days])
    read = invalid = 0
    nothing_to_clear = not any(plan.records(d) for d in plan.write_days) and not any(
        DeltaTable.isDeltaTable(spark, delta_tables.table_path(paths, name)) for name in TRADE_TABLES)
    if plan.write_days and not nothing_to_clear:  # (no table and no trade: no empty table either)
        observation = Observation("replay_trades_read")
        decoded = decoded_trades(read_runs(spark, kafka, plan), plan.write_days).observe(
            observation, F.count(F.lit(1)).alias("read"), F.count(quarantine_reason(F.col("trade"))).alias("invalid"))
        warm = warmup_plan(kafka, plan)
        warm_rows = trade_rows(decoded_trades(read_runs(spark, kafka, warm), warm.days))
        flows = with_trade_flow(trade_rows(decoded).unionByName(warm_rows))
        delta_tables.replace_days(spark, paths, replay_settings, TRADES,
                                  flows.where(F.col("date").isin(list(plan.write_days))), plan.write_days, topic)
        metrics = observation.get
        read, invalid = int(metrics.get("read", 0)), int(metrics.get("invalid", 0))
        bad = decoded_trades(read_runs(spark, kafka, plan) if invalid else empty_kafka(), plan.write_days)
        delta_tables.replace_days(spark, paths, replay_settings, TRADES_QUARANTINE, quarantine_rows(bad),
                                  plan.write_days, topic)
    by_day = {name: {d.isoformat(): n for d, n in delta_tables.rows_by_day(spark, paths, name,
                                                                           plan.write_days).items()}
              for name in TRADE_TABLES}
    kafka_records = {d.isoformat(): plan.records(d) for d in plan.days}
    note = ("" if sum(kafka_records.values()) else
            f"trade topic {topic!r} holds no record of the days: their trades are empty")
    if note:
        log.warning("no trade records", topic=topic, days=len(days))
    return TradeReplay(
        topic, "written", written_days=[d.isoformat() for d in plan.write_days],
        skipped_days=[d.isoformat() for d in plan.skipped_days],
        rows={name: sum(counts.values()) for name, counts in by_day.items()}, rows_by_day=by_day,
        kafka_records=kafka_records, records_read=read, quarantined=invalid, missing_ranges=plan.missing_ranges(),
        note=note)


def pipes_metadata(result: dict, seconds: float) -> dict:
    """Materialization metadata of `trades` (Dagster Pipes' typed form) from
    `TradeReplay.as_dict()`: reported even when nothing was written, with the status why."""
    as_json = lambda value: {"raw_value": value, "type": "json"}  # noqa: E731
    return {
        "status": {"raw_value": result.get("status", ""), "type": "text"},
        "note": {"raw_value": result.get("note", ""), "type": "text"},
        "topic": {"raw_value": result.get("topic", ""), "type": "text"},
        "rows": {"raw_value": result.get("rows", {}).get(TRADES, 0), "type": "int"},
        "rows_by_day": as_json(result.get("rows_by_day", {}).get(TRADES, {})),
        "written_days": as_json(result.get("written_days", [])),
        "skipped_days": as_json(result.get("skipped_days", [])),
        "kafka_records": as_json(result.get("kafka_records", {})),
        "records_read": {"raw_value": result.get("records_read", 0), "type": "int"},
        "quarantined": {"raw_value": result.get("quarantined", 0), "type": "int"},
        "missing_ranges": as_json(result.get("missing_ranges", [])),
        "complete": {"raw_value": not result.get("missing_ranges"), "type": "bool"},
        "seconds": {"raw_value": round(seconds, 2), "type": "float"},
    }
