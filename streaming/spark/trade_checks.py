"""Data-quality checks of a replayed day of `trades`, read with deltalake + polars (no JVM),
like replay_checks.py: Dagster's asset checks (quantcore_platform/replay_assets.py) turn
the outcomes into results, the tests call them directly.

Trade-id continuity: per symbol and stream kind (@trade ids and @aggTrade ids count
different things), a day's trade ids must be consecutive. A jump of k is a gap of k - 1
missing ids (the ingest counted it and kept the trade; the exchange's own trades are
gone for good); an id seen twice is a repeat (a re-sent record). Across midnight, each
(symbol, stream)'s first id of the day is compared with its last id of the previous day
when `trades` holds that day: a jump is a gap like any other (`after` the previous day's
last id), a first id at or below it an overlap (ids went back, e.g. a record re-sent
after midnight). Without the previous day (not replayed, the first day, no trades of the
symbol) the first id is not compared, and the metadata's `previous_day` says so.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from quantcore.settings import PathsSettings
from streaming.spark.replay_checks import CheckOutcome, read_day
from streaming.spark.trade_replay import TRADES

GROUP = ("symbol", "stream")
COLUMNS = [*GROUP, "trade_id"]
EXAMPLES = 10
STEP_SCHEMA = {"symbol": pl.String, "stream": pl.String, "after": pl.Int64, "before": pl.Int64}
GAP_SCHEMA = {**STEP_SCHEMA, "missing": pl.Int64}


def trade_id_gaps(trades: pl.DataFrame, previous_last: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per gap: symbol, stream, `after` (the last id before it), `before` (the next
    id present) and `missing` (before - after - 1), in symbol, stream, id order; with
    `previous_last` (`last_ids` of the previous day) also the gaps across midnight."""
    if trades.is_empty():
        return pl.DataFrame(schema=GAP_SCHEMA)
    ids = trades.select(COLUMNS).unique().sort(*GROUP, "trade_id")
    steps = (ids.with_columns(pl.col("trade_id").shift(1).over(GROUP).alias("after"))
             .filter(pl.col("after").is_not_null())
             .select(*GROUP, "after", pl.col("trade_id").alias("before")))
    if previous_last is not None:
        steps = pl.concat([midnight_steps(trades, previous_last), steps.cast(STEP_SCHEMA)])
    return gaps_of(steps)


def gaps_of(steps: pl.DataFrame) -> pl.DataFrame:
    """The steps (after -> before, consecutive ids present) that skip ids, with `missing`."""
    return (steps.filter(pl.col("before") - pl.col("after") > 1)
            .with_columns((pl.col("before") - pl.col("after") - 1).alias("missing"))
            .cast(GAP_SCHEMA).sort(*GROUP, "after"))


def last_ids(trades: pl.DataFrame) -> pl.DataFrame:
    """Per (symbol, stream): the largest trade id of the day (`last_id`)."""
    schema = {"symbol": pl.String, "stream": pl.String, "last_id": pl.Int64}
    if trades.is_empty():
        return pl.DataFrame(schema=schema)
    return trades.group_by(GROUP).agg(pl.col("trade_id").max().alias("last_id")).cast(schema).sort(GROUP)


def midnight_steps(trades: pl.DataFrame, previous_last: pl.DataFrame) -> pl.DataFrame:
    """Per (symbol, stream) with trades on both days: the previous day's last id (`after`)
    and the day's first (`before`)."""
    if trades.is_empty() or previous_last.is_empty():
        return pl.DataFrame(schema=STEP_SCHEMA)
    firsts = trades.group_by(GROUP).agg(pl.col("trade_id").min().alias("before"))
    return (previous_last.select(*GROUP, pl.col("last_id").alias("after")).join(firsts, on=GROUP)
            .cast(STEP_SCHEMA).sort(GROUP))


def midnight_overlaps(steps: pl.DataFrame) -> list[dict]:
    """The `midnight_steps` whose first id of the day is not above the previous day's last."""
    return steps.filter(pl.col("before") <= pl.col("after")).to_dicts()


def trade_id_repeats(trades: pl.DataFrame) -> int:
    """Rows beyond the first of each (symbol, stream, trade_id)."""
    if trades.is_empty():
        return 0
    return trades.height - trades.select(*GROUP, "trade_id").unique().height


def continuity_summary(trades: pl.DataFrame, previous_last: pl.DataFrame | None = None) -> dict:
    """Per symbol and stream: trades, first and last id, gaps, missing ids, repeats; with
    `previous_last`, also the previous day's last id (None: not compared)."""
    if trades.is_empty():
        return {}
    gaps = trade_id_gaps(trades, previous_last)
    previous = {} if previous_last is None else {(r["symbol"], r["stream"]): r["last_id"]
                                                 for r in previous_last.to_dicts()}
    summary = {}
    for (symbol, stream), group in trades.group_by(*GROUP, maintain_order=True):
        mine = gaps.filter((pl.col("symbol") == symbol) & (pl.col("stream") == stream))
        summary[f"{symbol} {stream}"] = {
            "trades": group.height, "first_id": group["trade_id"].min(), "last_id": group["trade_id"].max(),
            "gaps": mine.height, "missing": int(mine["missing"].sum() or 0), "repeats": trade_id_repeats(group)}
        if previous_last is not None:
            summary[f"{symbol} {stream}"]["previous_last_id"] = previous.get((symbol, stream))
    return dict(sorted(summary.items()))


def previous_day_summary(previous_day: date, previous_last: pl.DataFrame, steps: pl.DataFrame) -> dict:
    """What the comparison across midnight covered, or why there was none."""
    if previous_last.is_empty():
        return {"date": previous_day.isoformat(), "compared": 0,
                "note": f"no trades of {previous_day} in the table (not replayed, or none): "
                        "the day's first ids are not compared with it"}
    gaps = gaps_of(steps)
    return {"date": previous_day.isoformat(), "compared": steps.height, "gaps": gaps.height,
            "missing_ids": int(gaps["missing"].sum() or 0),
            "overlaps": midnight_overlaps(steps)[:EXAMPLES]}


def check_trade_id_continuity(paths: PathsSettings, day: date) -> CheckOutcome:
    """Passes when every symbol's trade ids of the day are consecutive, without repeats,
    and continue the previous day's when the table holds it."""
    trades = read_day(paths, TRADES, day, COLUMNS)
    previous_day = day - timedelta(days=1)
    previous_last = last_ids(read_day(paths, TRADES, previous_day, COLUMNS))
    steps = midnight_steps(trades, previous_last)
    gaps = trade_id_gaps(trades, previous_last)
    repeats = trade_id_repeats(trades)
    overlaps = len(midnight_overlaps(steps))
    missing = int(gaps["missing"].sum() or 0)
    metadata = {"rows": trades.height, "gaps": gaps.height, "missing_ids": missing, "repeats": repeats,
                "gap_examples": gaps.head(EXAMPLES).to_dicts(),
                "previous_day": previous_day_summary(previous_day, previous_last, steps),
                "per_symbol": continuity_summary(trades, previous_last)}
    passed = gaps.is_empty() and repeats == 0 and overlaps == 0
    return CheckOutcome(passed, describe(day, trades, gaps, repeats, overlaps), metadata)


def describe(day: date, trades: pl.DataFrame, gaps: pl.DataFrame, repeats: int, overlaps: int) -> str:
    if trades.is_empty():
        return f"{day}: no trades"
    if gaps.is_empty() and repeats == 0 and overlaps == 0:
        return f"{day}: trade ids consecutive per symbol and stream ({trades.height} trades)"
    where = sorted({f"{g['symbol']} {g['stream']}" for g in gaps.to_dicts()})
    return (f"{day}: {gaps.height} trade id gap(s), {int(gaps['missing'].sum() or 0)} id(s) missing"
            + (f" ({', '.join(where)})" if where else "") + f", {repeats} repeated id(s)"
            + (f", {overlaps} first id(s) at or below the previous day's last" if overlaps else ""))
