"""A book kept by applying simulator diffs, by exact decimal price (for model tests).

    book = decimal_book(*model.top(5000))
    apply_diff(book, model.step())
    assert book == decimal_book(*model.top(5000))
"""

from __future__ import annotations

from decimal import Decimal

DecimalBook = dict[str, dict[Decimal, str]]


def decimal_book(bids, asks) -> DecimalBook:
    """`{"bids": {price: qty}, "asks": ...}` from (price, qty) string pairs."""
    return {"bids": {Decimal(p): q for p, q in bids}, "asks": {Decimal(p): q for p, q in asks}}


def apply_diff(book: DecimalBook, event) -> None:
    """Binance diff semantics: each level's new absolute quantity, 0 removes it."""
    for side, levels in (("bids", event.bids), ("asks", event.asks)):
        for price, qty in levels:
            if Decimal(qty) == 0:
                book[side].pop(Decimal(price), None)
            else:
                book[side][Decimal(price)] = qty
