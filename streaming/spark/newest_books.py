"""Keep the newest book per symbol of a writer's rows, with its OFI: pure, no I/O.

A writer sees each symbol's books in Kafka offset order (one symbol = one partition =
one writer). Only the newest book of a symbol is written; its OFI is against the book
accepted just before it, which is the running newest when it arrived, or, if none of the
rows before it is newer than what Redis holds, the stored book. That equals chaining OFI
over every accepted book and keeping the last, in O(symbols) memory.

Every book but the newest of its symbol is superseded: never written. That includes a
book whose update id is not above the running newest (an out-of-order or replayed
record), so nothing stale is published.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from streaming.spark.ofi import TopOfBook, ofi_value

Row = Mapping[str, Any]


@dataclass(frozen=True)
class SeenBook:
    update_id: int
    top: TopOfBook


@dataclass
class Newest:
    row: Row
    before: Row | None  # the running newest when `row` arrived


def top_of_book(row: Row) -> TopOfBook:
    return TopOfBook(row["best_bid"], row["best_bid_qty"], row["best_ask"], row["best_ask_qty"])


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

    def resolve(self, stored: Mapping[str, SeenBook]) -> tuple[list[tuple[Row, float | None]], int]:
        """(newest row, its OFI) for each symbol newer than its stored book, and how many
        symbols had nothing newer than Redis (stale)."""
        fresh, stale = [], 0
        for symbol, newest in self.newest.items():
            last = stored.get(symbol)
            if last is not None and newest.row["update_id"] <= last.update_id:
                stale += 1
                continue
            before = SeenBook(newest.before["update_id"], top_of_book(newest.before)) if newest.before else None
            if before is None or (last is not None and before.update_id <= last.update_id):
                before = last
            fresh.append((newest.row, ofi_value(before.top if before else None, top_of_book(newest.row))))
        return fresh, stale


def newest_with_ofi(rows: Iterable[Row], stored: Mapping[str, SeenBook]) -> list[tuple[Row, float | None]]:
    """Convenience for tests: add every row, then resolve."""
    books = NewestBooks()
    for row in rows:
        books.add(row)
    return books.resolve(stored)[0]
