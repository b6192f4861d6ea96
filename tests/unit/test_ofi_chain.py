"""The writer's newest-book-per-symbol with OFI equals chaining OFI over every accepted book."""

from __future__ import annotations

import random

from streaming.spark.newest_books import NewestBooks, SeenBook, newest_with_ofi, top_of_book
from streaming.spark.ofi import TopOfBook, ofi_value


def row(symbol: str, update_id: int, bid=100.0, bid_qty=1.0, ask=101.0, ask_qty=1.0) -> dict:
    return {"symbol": symbol, "update_id": update_id, "best_bid": bid, "best_bid_qty": bid_qty,
            "best_ask": ask, "best_ask_qty": ask_qty}


def reference(rows: list[dict], stored: dict[str, SeenBook]) -> dict[str, tuple[int, float | None]]:
    """Brute force: walk every book, accept only newer ones, chain OFI, keep the last."""
    last = dict(stored)
    published: dict[str, tuple[int, float | None]] = {}
    for r in rows:
        previous = last.get(r["symbol"])
        if previous is not None and r["update_id"] <= previous.update_id:
            continue
        published[r["symbol"]] = (r["update_id"], ofi_value(previous.top if previous else None, top_of_book(r)))
        last[r["symbol"]] = SeenBook(r["update_id"], top_of_book(r))
    return published


def as_result(pairs) -> dict[str, tuple[int, float | None]]:
    return {r["symbol"]: (r["update_id"], ofi) for r, ofi in pairs}


def test_consecutive_books_in_one_batch():
    rows = [row("A", 1, bid_qty=5), row("A", 2, bid_qty=7), row("B", 10)]
    assert as_result(newest_with_ofi(rows, {})) == {"A": (2, 2.0), "B": (10, None)}


def test_out_of_order_and_replayed_books_are_never_written():
    stored = {"A": SeenBook(5, TopOfBook(100.0, 1.0, 101.0, 1.0))}
    books = NewestBooks()
    for r in [row("A", 3), row("A", 5), row("A", 4), row("B", 2), row("B", 1)]:
        books.add(r)
    fresh, stale = books.resolve(stored)
    assert as_result(fresh) == {"B": (2, None)}
    assert stale == 1 and books.superseded == 3  # 3 (by 5), 4 (older than 5), 1 (older than 2)


def test_predecessor_is_the_stored_book_when_earlier_rows_are_older():
    stored = {"A": SeenBook(6, TopOfBook(100.0, 4.0, 101.0, 1.0))}
    rows = [row("A", 5, bid_qty=99), row("A", 7, bid_qty=6)]
    assert as_result(newest_with_ofi(rows, stored)) == {"A": (7, 6.0 - 4.0)}


def test_random_batches_match_the_brute_force_chain():
    rng = random.Random(5)
    for _ in range(300):
        symbols = ["A", "B", "C"][: rng.randint(1, 3)]
        rows = [row(rng.choice(symbols), rng.randint(1, 30), 100 + rng.randint(-2, 2), rng.randint(0, 5),
                    103 + rng.randint(-2, 2), rng.randint(0, 5)) for _ in range(rng.randint(0, 25))]
        stored = {s: SeenBook(rng.randint(0, 30), TopOfBook(100.0 + rng.randint(-2, 2), 2.0, 103.0, 3.0))
                  for s in symbols if rng.random() < 0.5}
        assert as_result(newest_with_ofi(rows, stored)) == reference(rows, stored)
