"""Order-flow imbalance in plain Python: the twin of `signals.ofi_column`.

The stream chains OFI over consecutive books inside its writer (no shuffle, see
signals.py), so it needs the formula outside Spark. Same operations in the same order as
the Column version, so both give the same double (tests/unit/test_ofi_twin.py).
"""

from __future__ import annotations

from typing import NamedTuple


class TopOfBook(NamedTuple):
    """Best level of each side; None for an empty side."""

    bid: float | None
    bid_qty: float | None
    ask: float | None
    ask_qty: float | None

    @property
    def complete(self) -> bool:
        return None not in self


def ofi_value(previous: TopOfBook | None, current: TopOfBook) -> float | None:
    """e = 1{Pb ≥ Pb'}qb − 1{Pb ≤ Pb'}qb' − 1{Pa ≤ Pa'}qa + 1{Pa ≥ Pa'}qa' (primed =
    previous); None without a previous book or when either book lacks a side."""
    if previous is None or not (previous.complete and current.complete):
        return None
    return (
        (current.bid_qty if current.bid >= previous.bid else 0.0)
        - (previous.bid_qty if current.bid <= previous.bid else 0.0)
        - (current.ask_qty if current.ask <= previous.ask else 0.0)
        + (previous.ask_qty if current.ask >= previous.ask else 0.0)
    )
