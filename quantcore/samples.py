"""Sample records and updates whose contents tests can predict; loads for benchmarks.

Not a market model (the simulator's `model.py` is that): deterministic messages built from
their arguments, so a test can check every value that comes out the other end.

- `book`, `synthetic_day`: book records, fast to make in bulk. Each symbol's books are
  serialized once per level pattern (16 patterns, 20 levels a side); each record then
  appends its own update id and event/ingest times as extra protobuf fields, which parse as
  the last value of the field.
- `signal_update`: a fully populated SignalUpdate.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from quantcore import wire
from quantcore.timeutil import MS_PER_DAY, day_start_ms
from quantcore.wire import BookMode, SignalUpdate, varint


def book(symbol: str, update_id: int, depth: int = 20, base: float = 100.0, step: int = 0) -> wire.BookRecord:
    """A plausible book: bids below asks, quantities moving with `step` (so signals vary)."""
    levels = lambda sign: [wire.PriceLevel(  # noqa: E731
        price=f"{base + sign * (0.01 + i * 0.01):.2f}",
        qty=f"{1 + ((step * (i + 3) + (sign > 0) * 7) % 13) * 0.25:.2f}")
        for i in range(depth)]
    return wire.BookRecord(exchange="binance", symbol=symbol, event_time_us=0, update_id=update_id,
                            ingest_time_us=0, bids=levels(-1), asks=levels(+1),
                            mode=wire.BookMode.BOOK_MODE_LOCAL_BOOK, shard_id=0)


_UPDATE_ID_TAG, _EVENT_TIME_TAG, _INGEST_TIME_TAG = b"\x20", b"\x18", b"\x30"  # fields 4, 3, 6 (varint)


def stamped(template: bytes, update_id: int, time_us: int) -> bytes:
    """`template` with this record's update id and times (protobuf: the last field value wins)."""
    t = varint(time_us)
    return template + _UPDATE_ID_TAG + varint(update_id) + _EVENT_TIME_TAG + t + _INGEST_TIME_TAG + t


def synthetic_day(symbols: list[str], records: int, day: date,
                  variants: int = 16) -> Iterator[tuple[bytes, bytes, int]]:
    """`records` (key, value, timestamp_ms) spread evenly over `day`, round-robin over symbols."""
    templates = {s: [book(s, 0, base=100.0 + i, step=v).SerializeToString() for v in range(variants)]
                 for i, s in enumerate(symbols)}
    keys = {s: s.encode() for s in symbols}
    start, step_ms = day_start_ms(day), MS_PER_DAY / max(records, 1)
    for n in range(records):
        symbol = symbols[n % len(symbols)]
        ts_ms = start + int(n * step_ms)
        yield keys[symbol], stamped(templates[symbol][(n // len(symbols)) % variants], 1 + n, ts_ms * 1000), ts_ms


def signal_update(symbol: str, update_id: int, *, obi: float = 0.25, mid: float = 100.0,
                  exchange_event_us: int = 1_700_000_000_000_000) -> SignalUpdate:
    """A fully populated SignalUpdate whose values derive from its arguments (so tests can check them)."""
    update = SignalUpdate(symbol=symbol, update_id=update_id, exchange="binance", mode=BookMode.BOOK_MODE_LOCAL_BOOK)
    s = update.signals
    s.obi_1, s.obi_5, s.obi_10, s.obi_20 = obi, obi / 2, obi / 4, obi / 8
    s.obi_weighted = obi / 3
    s.best_bid, s.best_ask = mid - 0.5, mid + 0.5
    s.mid, s.spread = mid, 1.0
    s.spread_bps = 1.0 / mid * 10_000
    s.weighted_mid = mid + 0.5 * obi
    t = update.times
    t.exchange_event_us = exchange_event_us
    t.ingest_us, t.kafka_append_us, t.compute_us = exchange_event_us + 1_000, exchange_event_us + 2_000, exchange_event_us + 3_000
    return update
