"""Keep the newest book per symbol of a writer's rows, with its OFI: pure, no I/O.

A writer sees each symbol's books in Kafka offset order (one symbol = one partition =
one writer). Only the newest book of a symbol is written; its OFI is against the book
accepted just before it, which is the running newest when it arrived, or, if none of the
rows before it is newer than what Redis holds, the stored book. That equals chaining OFI
over every accepted book and keeping the last, in O(symbols) memory.

Every book but the newest of its symbol is superseded: never written. That includes a
book whose update id is not above the running newest (an out-of-order or replayed
record), so nothing stale is published.

Multi-level OFI (`ofi_levels`) is chained exactly like OFI, against the same predecessor,
from each side's top levels (signals.TOP_LEVEL_COLUMNS) with the pure
`quantcore.microstructure.ofi_levels`. A stored book without levels (written before they
were kept) leaves the first `ofi_levels` after it undefined.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from quantcore.microstructure import ofi_levels
from streaming.spark.ofi import TopOfBook, ofi_value
from streaming.spark.signals import OFI_LEVELS, TOP_LEVEL_COLUMNS

Row = Mapping[str, Any]
# Each side's top levels as TOP_LEVEL_COLUMNS: bid prices, bid qtys, ask prices, ask qtys.
TopLevels = tuple[list[float], list[float], list[float], list[float]]


@dataclass(frozen=True)
class SeenBook:
    update_id: int
    top: TopOfBook
    levels: TopLevels | None = None  # None: not known (a hash written before levels were kept)


class Fresh(NamedTuple):
    """A book to write, with its chained signals."""

    row: Row
    ofi: float | None
    ofi_levels: list[float] | None  # None when undefined


@dataclass
class Newest:
    row: Row
    before: Row | None  # the running newest when `row` arrived


def top_of_book(row: Row) -> TopOfBook:
    return TopOfBook(row["best_bid"], row["best_bid_qty"], row["best_ask"], row["best_ask_qty"])


def top_levels(row: Row) -> TopLevels:
    return tuple(row[name] or [] for name in TOP_LEVEL_COLUMNS)  # type: ignore[return-value]


def chained_levels(previous: TopLevels | None, current: TopLevels) -> list[float] | None:
    """`ofi_levels` of `current` against `previous` (None: unknown), None when undefined."""
    if previous is None:
        return None
    prev_bid_px, prev_bid_qty, prev_ask_px, prev_ask_qty = previous
    bid_px, bid_qty, ask_px, ask_qty = current
    values = ofi_levels(list(zip(prev_bid_px, prev_bid_qty)), list(zip(prev_ask_px, prev_ask_qty)),
                        list(zip(bid_px, bid_qty)), list(zip(ask_px, ask_qty)), OFI_LEVELS)
    return None if values[0] is None else values  # all or nothing


class NewestBooks:
    """Feed rows in arrival order with `add`, then `resolve` against the stored books."""

    def __init__(self) -> None:
        self.newest: dict[str, Newest] = {}
        self.superseded = 0

    def add(self, row: Row) -> None:
        symbol, update_id = row["symbol"], row["update_id"]
        current = self.newest.get(symbol)
        if current is None:
            self.newest[symbol] = Newest(row, None)
        elif update_id > current.row["update_id"]:
            self.newest[symbol] = Newest(row, current.row)  # its top of book is read in resolve()
            self.superseded += 1
        else:
            self.superseded += 1

    def symbols(self) -> list[str]:
        return list(self.newest)

    def resolve(self, stored: Mapping[str, SeenBook], symbols: Iterable[str] | None = None) -> tuple[list[Fresh], int]:
        """(newest row, its OFI, its multi-level OFI) for each symbol (of `symbols`, default
        all) newer than its stored book, and how many had nothing newer than Redis (stale)."""
        fresh, stale = [], 0
        for symbol in self.newest if symbols is None else symbols:
            newest = self.newest[symbol]
            last = stored.get(symbol)
            if last is not None and newest.row["update_id"] <= last.update_id:
                stale += 1
                continue
            before = newest.before
            if before is None or (last is not None and before["update_id"] <= last.update_id):
                previous = last
            else:
                previous = SeenBook(before["update_id"], top_of_book(before), top_levels(before))
            row = newest.row
            fresh.append(Fresh(row, ofi_value(previous.top if previous else None, top_of_book(row)),
                               chained_levels(previous.levels if previous else None, top_levels(row))))
        return fresh, stale


def newest_with_ofi(rows: Iterable[Row], stored: Mapping[str, SeenBook]) -> list[Fresh]:
    """Convenience for tests: add every row, then resolve."""
    books = NewestBooks()
    for row in rows:
        books.add(row)
    return books.resolve(stored)[0]
