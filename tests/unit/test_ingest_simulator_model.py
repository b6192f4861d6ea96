"""The simulator's book model: deterministic, never crossed, ids like Binance's."""

from __future__ import annotations

from decimal import Decimal

from streaming.simulator.instruments import format_units, instrument, to_units
from streaming.simulator.model import Market, SymbolModel, id_base_for_start
from streaming.simulator.protocol import merge_events
from tests.support.diff_book import apply_diff, decimal_book


def snapshot_book(model: SymbolModel):
    snapshot = model.snapshot(5000)
    return decimal_book(snapshot["bids"], snapshot["asks"])



def test_same_seed_same_events_whatever_the_other_symbols():
    alone = SymbolModel("BTCUSDT", seed=42)
    among = Market(["ETHUSDT", "BTCUSDT", "SOLUSDT"], seed=42)["BTCUSDT"]
    assert [alone.step() for _ in range(200)] == [among.step() for _ in range(200)]
    assert SymbolModel("BTCUSDT", seed=43).step() != SymbolModel("BTCUSDT", seed=42).step()


def test_diffs_rebuild_the_snapshot_exactly_and_the_book_never_crosses():
    model = SymbolModel("SOLUSDT", seed=9, levels=60)
    book = snapshot_book(model)
    previous_last = model.last_update_id
    sweeps = 0
    for _ in range(3000):
        event = model.step()
        assert event.first_id == previous_last + 1 and event.last_id >= event.first_id  # contiguous U..u
        # one id per micro event (a sweep is one event changing several levels): ids and
        # changed levels are not 1:1, but an empty interval still takes one id
        assert event.last_id - event.first_id + 1 >= 1
        previous_last = event.last_id
        apply_diff(book, event)
        assert max(book["bids"]) < min(book["asks"])
        assert 60 <= len(book["bids"]) <= model._cap and 60 <= len(book["asks"]) <= model._cap
        by_order: dict[int, set[int]] = {}
        for trade in event.trades:
            by_order.setdefault(trade.update_id, set()).add(trade.price_ticks)
        sweeps += any(len(prices) >= 2 for prices in by_order.values())
    assert book == snapshot_book(model)
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
    start = snapshot_book(model)
    events = [model.step() for _ in range(20)]
    merged = events[0]
    for event in events[1:]:
        merged = merge_events(merged, event)
    assert (merged.first_id, merged.last_id) == (events[0].first_id, events[-1].last_id)
    apply_diff(start, merged)
    assert start == snapshot_book(model)


def test_an_id_base_shifts_the_ids_and_nothing_else():
    plain, shifted = SymbolModel("ETHUSDT", seed=5), SymbolModel("ETHUSDT", seed=5, id_base=10**12)
    assert shifted.last_update_id == plain.last_update_id + 10**12
    for _ in range(300):
        a, b = plain.step(), shifted.step()
        assert (b.first_id, b.last_id) == (a.first_id + 10**12, a.last_id + 10**12)
        assert (b.bids, b.asks) == (a.bids, a.asks)
        assert [(t.trade_id - 10**12, t.update_id - 10**12, t.price, t.qty) for t in b.trades] == \
               [(t.trade_id, t.update_id, t.price, t.qty) for t in a.trades]


def test_a_restarted_simulator_continues_the_ids_of_the_last_run():
    """A restart replays the seed's market; the ids must still grow, or an ingest would
    drop the new run's diffs as older than the book it holds."""
    started = 1_780_000_000.0
    first_run = Market(["BTCUSDT", "SHIBUSDT"], seed=7, id_base=id_base_for_start(started))
    for _ in range(600):  # one minute of market at 10 Hz, then a crash
        for model in first_run.models.values():
            model.step()
    restarted = Market(["BTCUSDT", "SHIBUSDT"], seed=7, id_base=id_base_for_start(started + 0.5))
    for symbol, model in first_run.models.items():
        again = restarted[symbol]
        assert again.last_update_id > model.last_update_id and again.last_trade_id > model.last_trade_id
        assert again.step().first_id > model.last_update_id
    assert id_base_for_start(started + 0.5) < 2**53  # JSON readers on doubles still read ids exactly
