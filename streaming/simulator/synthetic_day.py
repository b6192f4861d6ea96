"""A synthetic day of book records, fast to make in bulk (replay tests and benchmarks).

Each symbol's books are serialized once per level pattern (16 patterns, 20 levels a side);
each record then appends its own update id and event/ingest times as extra protobuf fields,
which parse as the last value of the field. Not a market model (see `model.py` for that):
a load whose exact contents tests can predict.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from quantcore import wire
from quantcore.timeutil import MS_PER_DAY, day_start_ms
from quantcore.wire import varint


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
