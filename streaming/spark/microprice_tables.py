"""Stoikov micro-price tables: estimated from replayed history, published to Redis,
applied by the stream's writer and by the replay.

Estimation (the Dagster asset `microprice_tables`, daily partition D): the valid books
of `book_signals` for the days D − HISTORY_DAYS + 1 .. D, per symbol in update id order,
sampled at a fixed interval (SAMPLE_INTERVAL_US, as the paper samples its quotes: at each
multiple of the interval, the last book at or before it), turned into `transitions` and
`estimate`d with quantcore.microstructure.microprice's defaults (10 imbalance buckets,
spreads of 1..2 ticks, 6 terms, symmetrised). The tick is the exchange's: the
PRICE_FILTER tickSize of `GET /api/v3/exchangeInfo` from the configured source's REST base
(streaming/ingest/exchange_info.py; Binance's filters.md), kept with the table, and where
it came from goes into the asset's metadata (`tick_sources`). The simulator's instruments
(streaming/simulator/instruments.py) stand in when the simulator's exchangeInfo cannot be
reached or does not list a symbol: they are the numbers it would have served. Binance's
unreachable fails the asset with the fix; a symbol Binance does not list is skipped, with
the reason. It runs in the Dagster process on rows read with deltalake + polars, not in
Spark: five columns of a symbol-day at 10 Hz are ~1M small rows, sampling leaves 86,400 a
day, and the estimate is a 20-state linear solve, so a Spark job (its startup, a Pipes
launch) would cost more than it saves.

Result: one row per (symbol, date = D) in the Delta table `microprice_tables`, and the
newest table per symbol in Redis (`qc:microprice:{SYMBOL}`, JSON `payload`), never moved
back by a backfill of older days.

Which table applies to a book (stream and replay agree when they use the same table):
- stream: the table Redis holds for the symbol, re-read every REFRESH_SECONDS by the writer;
- replay of day X: the symbol's row with the largest date < X (the table estimated up to
  the day before). The nightly run replays D, then estimates D, and publishes it early on
  D + 1, so the live books of D + 1 use table D, as the replay of D + 1 does, except those
  written before the publish (the first minutes of the day, still on table D − 1) and
  books of a writer that has not refreshed yet (≤ REFRESH_SECONDS).
Both apply `microprice.apply` (the replay its Column twin, `microprice_column`; a test
proves them equal). No table, or a state without data: null.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from quantcore.errors import PlatformError
from quantcore.microstructure.microprice import (
    MicropriceTable,
    Quote,
    apply,
    estimate,
    transitions,
)
from quantcore.settings import Settings, Source
from streaming.ingest.endpoints import exchange_urls
from streaming.ingest.exchange_info import (
    EXCHANGE_INFO,
    ExchangeInfoError,
    ExchangeUnreachable,
    fetch_exchange_info,
    tick_sizes,
)

TABLE = "microprice_tables"
KEY_PREFIX = "qc:microprice:"
SAMPLE_INTERVAL_US = 1_000_000
HISTORY_DAYS = 3
REFRESH_SECONDS = 60.0
SIMULATOR_INSTRUMENTS = "the simulator's instruments (streaming/simulator/instruments.py)"


def redis_key(symbol: str) -> str:
    return f"{KEY_PREFIX}{symbol}"


def tick_size(symbol: str) -> float:
    """The simulator's tick of `symbol` (its instruments): what its exchangeInfo serves."""
    from streaming.simulator.instruments import UNITS, instrument

    return instrument(symbol).tick_units / UNITS


@dataclass
class ExchangeTicks:
    """`tick_of` for `estimate_day`: each symbol's PRICE_FILTER tickSize from the source's
    exchangeInfo (`info`; None when the simulator's could not be fetched), and where each
    tick came from (`origins`, for the asset's metadata)."""

    info: Mapping[str, Any] | None
    origin: str  # where `info` came from, or why the simulator's instruments stand in
    simulated: bool
    origins: dict[str, str] = field(default_factory=dict)

    def __call__(self, symbol: str) -> float:
        tick, self.origins[symbol] = self.resolve(symbol)
        return tick

    def resolve(self, symbol: str) -> tuple[float, str]:
        if self.info is None:
            return tick_size(symbol), self.origin
        try:
            return tick_sizes(self.info, [symbol])[symbol], self.origin
        except ExchangeInfoError as exc:
            if not self.simulated:
                raise
            return tick_size(symbol), f"{SIMULATOR_INSTRUMENTS}: {exc.problem}"

    def by_origin(self) -> dict[str, list[str]]:
        """{origin: symbols}: one line per source in the common case."""
        grouped: dict[str, list[str]] = {}
        for symbol, origin in sorted(self.origins.items()):
            grouped.setdefault(origin, []).append(symbol)
        return grouped


def exchange_ticks(settings: Settings,
                   fetch: Callable[[str], Mapping[str, Any]] = fetch_exchange_info) -> ExchangeTicks:
    """The configured source's exchangeInfo, fetched once; see the module docstring for what
    stands in when it cannot be fetched."""
    _, rest_base = exchange_urls(settings.market, settings.simulator, settings.ingest)
    simulated = settings.market.source != Source.binance
    try:
        info = fetch(rest_base)
    except ExchangeUnreachable as exc:
        if simulated:
            return ExchangeTicks(None, f"{SIMULATOR_INSTRUMENTS}: {exc}", simulated)
        raise PlatformError(f"the micro-price tables need Binance's tick sizes and {exc}",
                            "make the REST base reachable from the Dagster process (QUANTCORE_BINANCE_REST_URL, "
                            "network, proxy), then re-run the partition") from None
    return ExchangeTicks(info, f"exchangeInfo {rest_base}{EXCHANGE_INFO}", simulated)


def sample_quotes(books: Iterable[tuple[int, float, float, float, float]], interval_us: int) -> list[Quote]:
    """Books (event time, bid, ask, bid qty, ask qty) in order -> the last book at or before
    each multiple of `interval_us` from the first book on (as-of sampling)."""
    sampled: list[Quote] = []
    last: Quote | None = None
    next_sample: int | None = None
    for time_us, bid, ask, bid_qty, ask_qty in books:
        if next_sample is None:
            next_sample = -(-time_us // interval_us) * interval_us
        while time_us > next_sample and last is not None:
            sampled.append(last)
            next_sample += interval_us
        last = Quote(bid, ask, bid_qty, ask_qty)
        if time_us == next_sample:
            sampled.append(last)
            next_sample += interval_us
    return sampled


@dataclass(frozen=True)
class EstimatedTable:
    symbol: str
    day: date  # the last day of history
    history: tuple[date, ...]
    tick: float
    table: MicropriceTable
    samples: int
    interval_us: int = SAMPLE_INTERVAL_US

    def payload(self) -> dict[str, Any]:
        """What Redis holds and the Delta row's `table` column: JSON-ready."""
        return {"symbol": self.symbol, "date": self.day.isoformat(),
                "estimated_from": [d.isoformat() for d in self.history], "tick": self.tick,
                "samples": self.samples, "sample_interval_us": self.interval_us, "table": self.table.to_dict()}

    def row(self) -> dict[str, Any]:
        """A row of the Delta table `microprice_tables`."""
        table = self.table
        return {"symbol": self.symbol, "date": self.day,
                "estimated_from": f"{self.history[0].isoformat()}..{self.history[-1].isoformat()}",
                "days": len(self.history), "tick": self.tick, "buckets": table.buckets,
                "max_spread_ticks": table.max_spread_ticks,
                "adjustments": [value for row in table.adjustments for value in row],
                "terms": table.terms, "last_term_ticks": table.last_term_ticks,
                "transitions": table.transitions, "samples": self.samples,
                "sample_interval_us": self.interval_us, "table": json.dumps(self.payload())}


def estimate_symbol(symbol: str, day: date, history: tuple[date, ...], books, tick: float,
                    interval_us: int = SAMPLE_INTERVAL_US) -> EstimatedTable | None:
    """The table of one symbol from its books in order (None: no transition, or a chain
    the data cannot solve)."""
    quotes = sample_quotes(books, interval_us)
    observed = list(transitions(quotes, tick))
    if not observed:
        return None
    try:
        table = estimate(observed)
    except ValueError:
        return None
    return EstimatedTable(symbol, day, history, tick, table, len(quotes), interval_us)


@dataclass(frozen=True)
class Published:
    table: MicropriceTable
    tick: float
    day: str

    @classmethod
    def parse(cls, raw: bytes | str) -> Published:
        data = json.loads(raw)
        return cls(MicropriceTable.from_dict(data["table"]), float(data["tick"]), data["date"])

    def microprice(self, bid, ask, bid_qty, ask_qty) -> float | None:
        if None in (bid, ask, bid_qty, ask_qty):
            return None
        return apply(self.table, bid, ask, bid_qty, ask_qty, self.tick)


class TableCache:
    """The writer's tables: each symbol's re-read from Redis when older than `refresh`
    seconds (one pipelined GET for all such symbols of a run; a broken payload counts as
    no table)."""

    def __init__(self, refresh: float = REFRESH_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.refresh, self.clock = refresh, clock
        self.tables: dict[str, Published | None] = {}
        self.loaded: dict[str, float] = {}

    def get(self, client, symbols: Iterable[str]) -> Mapping[str, Published | None]:
        now = self.clock()
        due = [s for s in symbols if now - self.loaded.get(s, -float("inf")) >= self.refresh]
        if due:
            pipe = client.pipeline(transaction=False)
            for symbol in due:
                pipe.get(redis_key(symbol))
            for symbol, raw in zip(due, pipe.execute(), strict=True):
                try:
                    self.tables[symbol] = None if raw is None else Published.parse(raw)
                except (ValueError, KeyError, TypeError):
                    self.tables[symbol] = None
                self.loaded[symbol] = now
        return self.tables


PUBLISH_IF_NEWER = """
local stored = redis.call('GET', KEYS[1])
if stored then
  local day = cjson.decode(stored)['date']
  if day > ARGV[2] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""


def publish(client, tables: Iterable[EstimatedTable]) -> int:
    """Each table to Redis unless the symbol's stored table is of a later day; returns how
    many were set."""
    script = client.register_script(PUBLISH_IF_NEWER)
    return sum(int(script(keys=[redis_key(t.symbol)], args=[json.dumps(t.payload()), t.day.isoformat()]))
               for t in tables)


# --- the replay's twin of `apply` ----------------------------------------------------------------

def microprice_column(bid, ask, bid_qty, ask_qty, tick, buckets, max_spread, adjustments):
    """The Column twin of `microprice.apply` (Columns in, a double Column out): the same
    operations in the same order, Python's round-half-even as `bround`; null where `apply`
    gives None or a side is missing."""
    from pyspark.sql import functions as F

    total = bid_qty + ask_qty
    share = bid_qty / total
    bucket = F.least(buckets - 1, F.greatest(F.lit(0), F.floor(share * buckets).cast("int")))
    spread = F.bround((ask - bid) / tick).cast("int")
    in_range = (total > 0) & (spread >= 1) & (spread <= max_spread)
    adjustment = F.get(adjustments, (spread - 1) * buckets + bucket)
    return F.when(in_range, (bid + ask) / 2.0 + adjustment * tick)


def add_microprice(spark, frame, tables_path: str | None, valid, column: str = "microprice"):
    """`frame` (symbol, date, best_bid, best_ask, best_bid_qty, best_ask_qty) plus
    `column`: the table of the symbol with the largest date before the row's (see the
    module docstring); null without one, or when not `valid`."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    if tables_path is None or not DeltaTable.isDeltaTable(spark, tables_path):
        return frame.withColumn(column, F.lit(None).cast("double"))
    from pyspark.sql import Window

    tables = (spark.read.format("delta").load(tables_path)
              .select("symbol", F.col("date").alias("_mp_from"), "tick", "buckets", "max_spread_ticks", "adjustments"))
    following = Window.partitionBy("symbol").orderBy("_mp_from")
    tables = F.broadcast(tables.withColumn("_mp_until", F.lead("_mp_from").over(following))
                         .withColumnRenamed("symbol", "_mp_symbol"))
    # Table of day T applies to days T+1 .. the next table's day (inclusive).
    joined = frame.join(tables, (frame["symbol"] == tables["_mp_symbol"]) & (frame["date"] > tables["_mp_from"])
                        & (tables["_mp_until"].isNull() | (frame["date"] <= tables["_mp_until"])), "left")
    value = microprice_column(F.col("best_bid"), F.col("best_ask"), F.col("best_bid_qty"), F.col("best_ask_qty"),
                              F.col("tick"), F.col("buckets"), F.col("max_spread_ticks"), F.col("adjustments"))
    return joined.withColumn(column, F.when(valid, value)).drop(
        "_mp_symbol", "_mp_from", "_mp_until", "tick", "buckets", "max_spread_ticks", "adjustments")


# --- the asset's I/O: book_signals in, microprice_tables out (deltalake + polars, no Spark) ------

BOOK_COLUMNS = ["symbol", "update_id", "event_time_us", "best_bid", "best_ask", "best_bid_qty", "best_ask_qty"]


def history_days(day: date, days: int = HISTORY_DAYS) -> tuple[date, ...]:
    from datetime import timedelta

    return tuple(day - timedelta(days=n) for n in range(days - 1, -1, -1))


def read_books(paths, days: Iterable[date]):
    """The valid two-sided books of `days` from book_signals, by symbol then update id (polars)."""
    import polars as pl
    from deltalake import DeltaTable

    from streaming.spark.delta_tables import BOOK_SIGNALS, table_path

    path = table_path(paths, BOOK_SIGNALS)
    if not DeltaTable.is_deltatable(path):
        return pl.DataFrame(schema={name: pl.Float64 for name in BOOK_COLUMNS})
    return (pl.scan_delta(path).filter(pl.col("date").is_in(list(days)) & pl.col("invalid_reason").is_null()
                                       & pl.all_horizontal(pl.col(BOOK_COLUMNS[3:]).is_not_null())
                                       & (pl.col("event_time_us") > 0))
            .select(BOOK_COLUMNS).sort("symbol", "update_id").collect())


def estimate_day(paths, day: date, tick_of: Callable[[str], float], days: int = HISTORY_DAYS,
                 interval_us: int = SAMPLE_INTERVAL_US) -> tuple[list[EstimatedTable], dict[str, str]]:
    """Every symbol's table from the history ending on `day`, and why the others have none
    (`tick_of`: an `ExchangeTicks`; a symbol it has no tick for is skipped)."""
    history = history_days(day, days)
    books = read_books(paths, history)
    estimated, skipped = [], {}
    for (symbol,), rows in books.group_by("symbol", maintain_order=True):
        try:
            tick = tick_of(symbol)
        except ExchangeInfoError as exc:
            skipped[symbol] = f"no tick size: {exc}"
            continue
        table = estimate_symbol(symbol, day, history, rows.select(BOOK_COLUMNS[2:]).iter_rows(), tick, interval_us)
        if table is None:
            skipped[symbol] = "no usable transition (spreads beyond 2 ticks, or too few samples)"
        else:
            estimated.append(table)
    return estimated, skipped


def write_tables(paths, day: date, tables: list[EstimatedTable]) -> str:
    """Replace day `day` of the Delta table `microprice_tables` with `tables`."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from streaming.spark.delta_tables import table_path

    schema = pa.schema([("symbol", pa.string()), ("date", pa.date32()), ("estimated_from", pa.string()),
                        ("days", pa.int32()), ("tick", pa.float64()), ("buckets", pa.int32()),
                        ("max_spread_ticks", pa.int32()), ("adjustments", pa.list_(pa.float64())),
                        ("terms", pa.int32()), ("last_term_ticks", pa.float64()), ("transitions", pa.int64()),
                        ("samples", pa.int64()), ("sample_interval_us", pa.int64()), ("table", pa.string())])
    path = table_path(paths, TABLE)
    data = pa.Table.from_pylist([table.row() for table in tables], schema=schema)
    write_deltalake(path, data, mode="overwrite", partition_by=["date"], predicate=f"date = '{day.isoformat()}'",
                    description="Stoikov micro-price tables per symbol, estimated from book_signals of the days "
                                "`estimated_from`; applied to the days after `date` (streaming/spark/"
                                "microprice_tables.py)")
    return path
