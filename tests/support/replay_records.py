"""The known records of two simulated UTC days, for the replay tests, and what each becomes.

Books of 3 symbols (depths 5/10/20, one side empty once, one crossed book), a book at the
last and at the first millisecond of the days, a re-sent duplicate, two records that are
not books and a book whose levels books_raw's exact decimals cannot hold; produced to
explicit partitions with producer (CreateTime) timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from quantcore import wire
from quantcore.samples import book as make_book
from quantcore.settings import KafkaSettings
from quantcore.timeutil import day_start_ms
from quantcore.topics import produce_all

SYMBOLS = ["AAAUSDT", "BBBUSDT", "CCCUSDT"]
DAY1, DAY2 = date(2024, 3, 1), date(2024, 3, 2)
PER_DAY = 10  # books per symbol per day, besides the special records below
PARTITIONS = 4


@dataclass(frozen=True)
class Sent:
    """One produced record and what it should become."""

    key: bytes
    value: bytes
    ts_ms: int
    book: wire.BookRecord | None  # None: not a replayable book (quarantine)
    duplicate: bool = False
    crossed: bool = False  # decodes, but the stream rejects it: books_raw only, no signals

    @property
    def day(self) -> date:
        return DAY1 if self.ts_ms < day_start_ms(DAY2) else DAY2


def known_records() -> list[Sent]:
    """Books of 3 symbols over two UTC days (depths 5/10/20, one side empty once, one crossed
    book), a book at the last and at the first millisecond of the days, a re-sent duplicate,
    and two records that are not books. Sorted by time, update ids increasing per symbol."""
    slots = []  # (ts_ms, symbol index, variant)
    for day in (DAY1, DAY2):
        for k in range(PER_DAY):
            slots += [(day_start_ms(day) + k * 8_000_000 + 60_000 + i * 1_000, i, k) for i in range(len(SYMBOLS))]
    slots += [(day_start_ms(DAY2) - 1, 0, 97), (day_start_ms(DAY2), 1, 98)]
    records, next_id = [], {s: 5_000 + 1_000 * i for i, s in enumerate(SYMBOLS)}
    for ts_ms, i, variant in sorted(slots):
        symbol = SYMBOLS[i]
        next_id[symbol] += 3
        record = make_book(symbol, next_id[symbol], depth=(5, 10, 20)[variant % 3], base=100.0 + 10 * i, step=variant)
        record.event_time_us, record.ingest_time_us = ts_ms * 1000 - 700, ts_ms * 1000 - 200
        if (i, variant) == (2, 4) and ts_ms < day_start_ms(DAY2):
            del record.asks[:]  # a one-sided book: obi_k = 1, no mid
        crossed = (i, variant) == (1, 6) and ts_ms > day_start_ms(DAY2)
        if crossed:
            record.bids[0].price = "999.00"
        records.append(Sent(symbol.encode(), record.SerializeToString(), ts_ms, record, crossed=crossed))
    original = records[7]
    records.append(Sent(original.key, original.value, day_start_ms(DAY1) + 85_000_000, original.book, duplicate=True))
    records.append(Sent(b"AAAUSDT", b"\x0a\xff\xff\x01", day_start_ms(DAY1) + 30_000_000, None))  # truncated
    records.append(Sent(b"", wire.BookRecord(exchange="binance").SerializeToString(),
                        day_start_ms(DAY2) + 30_000_000, None))  # decodes, but names no symbol
    unfit = make_book("CCCUSDT", 1, depth=5, base=120.0)
    unfit.bids[2].qty = "1.0000001"  # 7 decimals: more than books_raw's qty scale
    records.append(Sent(b"CCCUSDT", unfit.SerializeToString(), day_start_ms(DAY2) + 40_000_000, None))
    return sorted(records, key=lambda r: r.ts_ms)


RECORDS = known_records()


def expected_raw(day: date) -> list[Sent]:
    return [r for r in RECORDS if r.day == day and r.book is not None]


def expected_signal_books(day: date | None = None, valid_only: bool = True) -> list[wire.BookRecord]:
    """The books of book_signals, once per (symbol, update_id), in update id order: the valid
    ones (which get signals), or all of them (a rejected book keeps a row, without signals)."""
    books = {(r.book.symbol, r.book.update_id): r.book for r in RECORDS
             if r.book is not None and not (valid_only and r.crossed) and (day is None or r.day == day)}
    return [books[key] for key in sorted(books)]


def partition_of(key: bytes) -> int:
    """Explicit partitions: one per symbol, the last for records without a symbol key."""
    symbols = [s.encode() for s in SYMBOLS]
    return symbols.index(key) % PARTITIONS if key in symbols else PARTITIONS - 1


def produce_known(kafka: KafkaSettings, topic: str, records: list[Sent] = RECORDS) -> None:
    produce_all(kafka, topic, [(r.key, r.value, r.ts_ms) for r in records], partition_of=partition_of)
