"""Trade-id continuity per symbol (pure): next ids pass, jumps are counted gaps, repeats are dropped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streaming.ingest.trade_continuity import Checked, Step, SymbolGaps, TradeContinuity


def test_the_first_trade_of_a_symbol_is_accepted_whatever_its_id():
    ids = TradeContinuity()
    assert ids.check("BTCUSDT", 4_110_671_841) == Checked(Step.FIRST)
    assert ids.check("ETHUSDT", 7) == Checked(Step.FIRST)  # each symbol has its own numbering
    assert ids.last("BTCUSDT") == 4_110_671_841 and ids.gaps == {} and ids.repeats == 0


def test_the_next_id_is_in_sequence():
    ids = TradeContinuity()
    ids.check("BTCUSDT", 100)
    assert ids.check("BTCUSDT", 101) == Checked(Step.NEXT, previous=100)
    assert ids.check("BTCUSDT", 101 + 1).publish


def test_a_jump_is_a_gap_counted_with_the_ids_it_skipped_and_still_published():
    ids = TradeContinuity()
    ids.check("BTCUSDT", 100)
    checked = ids.check("BTCUSDT", 104)  # 101, 102, 103 never arrived
    assert checked == Checked(Step.GAP, previous=100, missing=3) and checked.publish
    assert ids.check("BTCUSDT", 105).step is Step.NEXT  # the sequence continues from the jump
    ids.check("BTCUSDT", 107)
    assert ids.gaps == {"BTCUSDT": SymbolGaps(gaps=2, missing=4)}


def test_a_repeat_or_an_older_id_is_dropped_and_counted():
    ids = TradeContinuity()
    for trade_id in (100, 101, 102):
        ids.check("BTCUSDT", trade_id)
    assert ids.check("BTCUSDT", 102) == Checked(Step.REPEAT, previous=102)  # the same frame on a new connection
    assert not ids.check("BTCUSDT", 99).publish
    assert ids.repeats == 2 and ids.last("BTCUSDT") == 102 and ids.gaps == {}
    assert ids.check("BTCUSDT", 103).step is Step.NEXT


@given(st.lists(st.integers(0, 60), min_size=1, max_size=80))
def test_accepted_ids_strictly_increase_and_the_counts_add_up(arrivals):
    """Any arrival order (repeats, reorderings after a reconnect): what is published strictly
    increases, and published + repeats = arrivals, first + missing covers the published span."""
    ids = TradeContinuity()
    published = [trade_id for trade_id in arrivals if ids.check("BTCUSDT", trade_id).publish]
    assert published == sorted(set(published)) and published[0] == arrivals[0]
    assert len(published) + ids.repeats == len(arrivals)
    missing = ids.gaps.get("BTCUSDT", SymbolGaps()).missing
    assert published[-1] - published[0] + 1 == len(published) + missing
