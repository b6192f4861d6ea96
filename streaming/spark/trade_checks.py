"""Data-quality checks of a replayed day of `trades`, read with deltalake + polars (no JVM),
like replay_checks.py: Dagster's asset checks (quantcore_platform/replay_assets.py) turn
the outcomes into results, the tests call them directly.

Trade-id continuity: per symbol and stream kind (@trade ids and @aggTrade ids count
different things), a day's trade ids must be consecutive. A jump of k is a gap of k - 1
missing ids (the ingest counted it and kept the trade; the exchange's own trades are
gone for good); an id seen twice is a repeat (a re-sent record). The first id of the day
is not compared with the previous day's last.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from quantcore.settings import PathsSettings
from streaming.spark.replay_checks import CheckOutcome, read_day
from streaming.spark.trade_replay import TRADES

GROUP = ("symbol", "stream")
EXAMPLES = 10


def trade_id_gaps(trades: pl.DataFrame) -> pl.DataFrame:
    """One row per gap: symbol, stream, `after` (the last id before it), `before` (the next
    id present) and `missing` (before - after - 1), in symbol, stream, id order."""
    schema = {"symbol": pl.String, "stream": pl.String, "after": pl.Int64, "before": pl.Int64, "missing": pl.Int64}
    if trades.is_empty():
        return pl.DataFrame(schema=schema)
    ids = trades.select(*GROUP, "trade_id").unique().sort(*GROUP, "trade_id")
    return (ids.with_columns(pl.col("trade_id").shift(1).over(GROUP).alias("after"))
            .filter(pl.col("after").is_not_null() & (pl.col("trade_id") - pl.col("after") > 1))
            .select(*GROUP, "after", pl.col("trade_id").alias("before"),
                    (pl.col("trade_id") - pl.col("after") - 1).alias("missing"))
            .cast(schema))


def trade_id_repeats(trades: pl.DataFrame) -> int:
    """Rows beyond the first of each (symbol, stream, trade_id)."""
    if trades.is_empty():
        return 0
    return trades.height - trades.select(*GROUP, "trade_id").unique().height


def continuity_summary(trades: pl.DataFrame) -> dict:
    """Per symbol and stream: trades, first and last id, gaps, missing ids, repeats."""
    if trades.is_empty():
        return {}
    gaps = trade_id_gaps(trades)
    summary = {}
    for (symbol, stream), group in trades.group_by(*GROUP, maintain_order=True):
        mine = gaps.filter((pl.col("symbol") == symbol) & (pl.col("stream") == stream))
        summary[f"{symbol} {stream}"] = {
            "trades": group.height, "first_id": group["trade_id"].min(), "last_id": group["trade_id"].max(),
            "gaps": mine.height, "missing": int(mine["missing"].sum() or 0), "repeats": trade_id_repeats(group)}
    return dict(sorted(summary.items()))


def check_trade_id_continuity(paths: PathsSettings, day: date) -> CheckOutcome:
    """Passes when every symbol's trade ids of the day are consecutive, without repeats."""
    trades = read_day(paths, TRADES, day, [*GROUP, "trade_id"])
    gaps = trade_id_gaps(trades)
    repeats = trade_id_repeats(trades)
    missing = int(gaps["missing"].sum() or 0) if not gaps.is_empty() else 0
    metadata = {"rows": trades.height, "gaps": gaps.height, "missing_ids": missing, "repeats": repeats,
                "gap_examples": gaps.head(EXAMPLES).to_dicts(), "per_symbol": continuity_summary(trades)}
    passed = gaps.is_empty() and repeats == 0
    if trades.is_empty():
        description = f"{day}: no trades"
    elif passed:
        description = f"{day}: trade ids consecutive per symbol and stream ({trades.height} trades)"
    else:
        where = sorted({f"{g['symbol']} {g['stream']}" for g in gaps.to_dicts()})
        description = (f"{day}: {gaps.height} trade id gap(s), {missing} id(s) missing"
                       + (f" ({', '.join(where)})" if where else "") + f", {repeats} repeated id(s)")
    return CheckOutcome(passed, description, metadata)
