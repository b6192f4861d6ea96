"""The writer's newest-book-per-symbol with OFI (and multi-level OFI) equals chaining them
over every accepted book."""

from __future__ import annotations

import random

from quantcore.microstructure import ofi_levels
from streaming.spark.newest_books import NewestBooks, SeenBook, newest_with_ofi, top_levels, top_of_book
from streaming.spark.ofi import TopOfBook, ofi_value


def row(symbol: str, update_id: int, bid=100.0, bid_qty=1.0, ask=101.0, ask_qty=1.0,
        bids: list | None = None, asks: list | None = None) -> dict:
    """A computed row: one level a side (bid, ask), or the sides' (price, qty) levels."""
    bids = [(bid, bid_qty)] if bids is None else bids
    asks = [(ask, ask_qty)] if asks is None else asks
    best = lambda side, i: side[0][i] if side else None  # noqa: E731
    return {"symbol": symbol, "update_id": update_id, "best_bid": best(bids, 0), "best_bid_qty": best(bids, 1),
            "best_ask": best(asks, 0), "best_ask_qty": best(asks, 1),
            "top_bid_px": [p for p, _ in bids[:10]], "top_bid_qty": [q for _, q in bids[:10]],
            "top_ask_px": [p for p, _ in asks[:10]], "top_ask_qty": [q for _, q in asks[:10]]}


def sides(levels) -> tuple[list, list]:
    bid_px, bid_qty, ask_px, ask_qty = levels
    return list(zip(bid_px, bid_qty)), list(zip(ask_px, ask_qty))


def reference(rows: list[dict], stored: dict[str, SeenBook]) -> dict[str, tuple]:
    """Brute force: walk every book, accept only newer ones, chain OFI and multi-level OFI
    (straight from quantcore.microstructure), keep the last."""
    last = dict(stored)
    published: dict[str, tuple] = {}
    for r in rows:
        previous = last.get(r["symbol"])
        if previous is not None and r["update_id"] <= previous.update_id:
            continue
        levels = None
        if previous is not None and previous.levels is not None:
            levels = ofi_levels(*sides(previous.levels), *sides(top_levels(r)))
            levels = None if levels[0] is None else levels
        published[r["symbol"]] = (r["update_id"], ofi_value(previous.top if previous else None, top_of_book(r)),
                                  levels)
        last[r["symbol"]] = SeenBook(r["update_id"], top_of_book(r), top_levels(r))
    return published


def as_result(fresh) -> dict[str, tuple[int, float | None]]:
    return {book.row["symbol"]: (book.row["update_id"], book.ofi) for book in fresh}


def with_levels(fresh) -> dict[str, tuple]:
    return {book.row["symbol"]: (book.row["update_id"], book.ofi, book.ofi_levels) for book in fresh}


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


def random_side(rng: random.Random, best: float, step: float) -> list[tuple[float, float]]:
    """0..12 levels on a coarse grid (equal prices are frequent), best first."""
    return [(best + step * i, float(rng.randint(0, 5))) for i in range(rng.choice([0, 1, 3, 10, 12]))]


def random_row(rng: random.Random, symbol: str, update_id: int) -> dict:
    return row(symbol, update_id, bids=random_side(rng, 100 + rng.randint(-2, 2), -1.0),
               asks=random_side(rng, 103 + rng.randint(-2, 2), 1.0))


def test_random_batches_match_the_brute_force_chain():
    rng = random.Random(5)
    for _ in range(300):
        symbols = ["A", "B", "C"][: rng.randint(1, 3)]
        rows = [random_row(rng, rng.choice(symbols), rng.randint(1, 30)) for _ in range(rng.randint(0, 25))]
        stored = {}
        for s in symbols:
            if rng.random() < 0.5:
                seen = random_row(rng, s, rng.randint(0, 30))
                levels = top_levels(seen) if rng.random() < 0.8 else None  # None: stored before levels were kept
                stored[s] = SeenBook(seen["update_id"], top_of_book(seen), levels)
        assert with_levels(newest_with_ofi(rows, stored)) == reference(rows, stored)


def test_multi_level_ofi_is_chained_like_ofi_and_level_1_is_ofi():
    previous = row("A", 1, bids=[(100.0, 5.0), (99.0, 3.0)], asks=[(101.0, 4.0), (102.0, 6.0)])
    superseded = row("A", 2, bids=[(100.0, 9.0), (99.0, 3.0)], asks=[(101.0, 4.0)])
    newest = row("A", 3, bids=[(100.0, 8.0), (99.0, 1.0)], asks=[(101.0, 4.0), (102.0, 9.0)])
    stored = {"A": SeenBook(1, top_of_book(previous), top_levels(previous))}
    (book,) = newest_with_ofi([superseded, newest], stored)
    # against the superseded book 2, not the stored book 1: level 2's bid queue shrinks by 2
    # and its ask (missing in book 2) arrives with 9
    assert book.ofi_levels == [8.0 - 9.0, (1.0 - 3.0) - 9.0] + [0.0] * 8
    assert book.ofi_levels[0] == book.ofi
    (book,) = newest_with_ofi([newest], stored)  # against the stored book
    assert book.ofi_levels == [3.0, -5.0] + [0.0] * 8 and book.ofi == 3.0
    (book,) = newest_with_ofi([newest], {"A": SeenBook(1, top_of_book(previous), None)})
    assert book.ofi == 3.0 and book.ofi_levels is None, "a seed without levels: undefined, not wrong"
    (book,) = newest_with_ofi([row("A", 3, asks=[])], stored)
    assert book.ofi is None and book.ofi_levels is None, "an empty side: undefined"
