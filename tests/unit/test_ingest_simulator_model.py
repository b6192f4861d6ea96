"""The simulator's book model: deterministic, never crossed, ids like Binance's."""

from __future__ import annotations

from decimal import Decimal

from streaming.simulator.instruments import format_units, instrument, to_units
from streaming.simulator.model import Market, SymbolModel
from streaming.simulator.protocol import merge_events


def apply(book: dict[str, dict[Decimal, str]], event) -> None:
    for side, levels in (("bids", event.bids), ("asks", event.asks)):
        for price, qty in levels:
            if Decimal(qty) == 0:
                book[side].pop(Decimal(price), None)
            else:
                book[side][Decimal(price)] = qty


def as_book(snapshot: dict) -> dict[str, dict[Decimal, str]]:
    return {side: {Decimal(p): q for p, q in snapshot[side]} for side in ("bids", "asks")}


def test_same_seed_same_events_whatever_the_other_symbols():
    alone = SymbolModel("BTCUSDT", seed=42)
    among = Market(["ETHUSDT", "BTCUSDT", "SOLUSDT"], seed=42)["BTCUSDT"]
    assert [alone.step() for _ in range(200)] == [among.step() for _ in range(200)]
    assert SymbolModel("BTCUSDT", seed=43).step() != SymbolModel("BTCUSDT", seed=42).step()


def test_diffs_rebuild_the_snapshot_exactly_and_the_book_never_crosses():
    model = SymbolModel("SOLUSDT", seed=9, levels=60)
    book = as_book(model.snapshot(5000))
    previous_last = model.last_update_id
    sweeps = 0
    for _ in range(3000):
        event = model.step()
        assert event.first_id == previous_last + 1 and event.last_id >= event.first_id  # contiguous U..u
        # one id per micro event (a sweep is one event changing several levels): ids and
        # changed levels are not 1:1, but an empty interval still takes one id
        assert event.last_id - event.first_id + 1 >= 1
        previous_last = event.last_id
        apply(book, event)
        assert max(book["bids"]) < min(book["asks"])
        assert 60 <= len(book["bids"]) <= model._cap and 60 <= len(book["asks"]) <= model._cap
        by_order: dict[int, set[int]] = {}
        for trade in event.trades:
            by_order.setdefault(trade.update_id, set()).add(trade.price_ticks)
        sweeps += any(len(prices) >= 2 for prices in by_order.values())
    assert book == as_book(model.snapshot(5000))
    assert sweeps > 0, "sweeps happen: one market order takes several levels"


def test_prices_sit_on_the_tick_and_print_with_8_decimals():
    model = SymbolModel("XRPUSDT", seed=1)
    tick = instrument("XRPUSDT").tick_units
    for _ in range(100):
        event = model.step()
        for price, qty in event.bids + event.asks:
            assert len(price.split(".")[1]) == 8 and len(qty.split(".")[1]) == 8
            assert to_units(price) % tick == 0
    assert format_units(to_units("0.00002500")) == "0.00002500"
    assert instrument("NEWCOINUSDT") == instrument("newcoinusdt")  # unknown symbols get stable specs


def test_a_crossed_event_is_crossed_and_leaves_the_model_clean():
    model = SymbolModel("BTCUSDT", seed=3)
    before = model.snapshot(10)
    bad = model.crossed_event()
    assert Decimal(bad.bids[0][0]) >= Decimal(before["asks"][0][0])
    after = model.snapshot(10)
    assert after["lastUpdateId"] == before["lastUpdateId"] + 1 and after["bids"] == before["bids"]


def test_merged_events_equal_the_sequence():
    model = SymbolModel("ETHUSDT", seed=5)
    start = as_book(model.snapshot(5000))
    events = [model.step() for _ in range(20)]
    merged = events[0]
    for event in events[1:]:
        merged = merge_events(merged, event)
    assert (merged.first_id, merged.last_id) == (events[0].first_id, events[-1].last_id)
    apply(start, merged)
    assert start == as_book(model.snapshot(5000))
