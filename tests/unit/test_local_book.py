"""The local order book follows Binance's sync rules exactly (pure, hand-built events)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings, strategies as st

from streaming.ingest.frames import DepthSnapshot, DiffEvent
from streaming.ingest.local_book import (
    BUFFERED,
    STALE,
    Applied,
    InvalidSnapshot,
    LocalBook,
    Resync,
    SnapshotTooOld,
)


def ev(first: int, last: int, bids=(), asks=()) -> DiffEvent:
    return DiffEvent("BTCUSDT", first, last, 1_700_000_000_000 + last, list(bids), list(asks))


def snap(last: int, bids=(("100.0", "1"),), asks=(("101.0", "1"),)) -> DepthSnapshot:
    return DepthSnapshot(last, list(bids), list(asks))


def synced_book(last: int = 10) -> LocalBook:
    book = LocalBook(depth=5)
    assert book.on_event(ev(last + 1, last + 1)) is BUFFERED
    book.on_snapshot(snap(last + 1))
    assert book.synced and book.last_update_id == last + 1
    return book


def test_events_are_buffered_until_the_snapshot_and_aligned_to_it():
    book = LocalBook(depth=5)
    assert book.on_event(ev(1, 3, bids=[("99.0", "5")])) is BUFFERED
    assert book.on_event(ev(4, 6, bids=[("98.0", "2")])) is BUFFERED
    assert book.on_event(ev(7, 9, asks=[("102.0", "3")])) is BUFFERED
    outcomes = book.on_snapshot(snap(5))
    # u <= 5 dropped; the first kept event straddles the snapshot (U <= 6 <= u).
    assert outcomes[0] is STALE
    assert [type(o) for o in outcomes[1:]] == [Applied, Applied]
    assert [o.event.last_id for o in outcomes[1:]] == [6, 9]
    assert book.last_update_id == 9
    assert outcomes[-1].bids == [("100.0", "1"), ("98.0", "2")]  # 99.0 came before the snapshot
    assert outcomes[-1].asks == [("101.0", "1"), ("102.0", "3")]


def test_first_event_after_the_snapshot_must_cover_the_next_id():
    book = LocalBook(depth=5)
    book.on_event(ev(7, 9))
    assert isinstance(book.on_snapshot(snap(5)), SnapshotTooOld)  # 5 + 1 < 7: events 6.. missing
    assert not book.synced and book.buffered == 1
    outcomes = book.on_snapshot(snap(6))  # 6 + 1 == 7: usable
    assert [type(o) for o in outcomes] == [Applied] and book.last_update_id == 9


def test_a_gap_drops_the_book_and_rebuffers_from_the_gap():
    book = synced_book(10)  # last id 11
    assert isinstance(book.on_event(ev(12, 13)), Applied)
    outcome = book.on_event(ev(15, 16))  # 14 missing
    assert outcome == Resync("gap", ev(15, 16))
    assert not book.synced and book.buffered == 1
    assert book.on_event(ev(17, 18)) is BUFFERED
    outcomes = book.on_snapshot(snap(16))
    assert outcomes[0] is STALE and isinstance(outcomes[1], Applied) and book.last_update_id == 18


def test_after_the_first_event_ids_must_be_contiguous():
    book = synced_book(10)  # last id 11
    assert isinstance(book.on_event(ev(12, 14)), Applied)
    assert book.on_event(ev(13, 15)) == Resync("gap", ev(13, 15))  # overlapping is not contiguous


def test_duplicates_and_old_events_are_stale():
    book = synced_book(10)
    book.on_event(ev(12, 14))
    assert book.on_event(ev(12, 14)) is STALE
    assert book.on_event(ev(3, 4)) is STALE
    assert book.last_update_id == 14


def test_zero_quantity_deletes_and_deleting_an_absent_level_is_normal():
    book = synced_book(10)
    outcome = book.on_event(ev(12, 12, bids=[("100.0", "0.000"), ("97.5", "0")], asks=[("101.00", "0E-8")]))
    assert isinstance(outcome, Applied)
    assert outcome.bids == [] and outcome.asks == []


def test_equal_decimals_are_one_level_and_the_received_strings_are_kept():
    book = synced_book(10)
    outcome = book.on_event(ev(12, 12, bids=[("100.00000000", "2.50000000")]))
    assert outcome.bids == [("100.00000000", "2.50000000")]  # replaced "100.0", not added


def test_prices_sort_numerically_best_first():
    book = LocalBook(depth=3)
    book.on_snapshot(snap(1, bids=[("9.5", "1"), ("10.25", "1"), ("100", "1")],
                          asks=[("1000", "1"), ("200.5", "1"), ("101", "1")]))
    outcome = book.on_event(ev(2, 2, bids=[("99.99", "1")]))
    assert [p for p, _ in outcome.bids] == ["100", "99.99", "10.25"]
    assert [p for p, _ in outcome.asks] == ["101", "200.5", "1000"]


def test_a_crossed_book_is_detected_and_never_emitted():
    book = synced_book(10)
    outcome = book.on_event(ev(12, 12, bids=[("101.5", "1")]))  # bid above the best ask 101.0
    assert outcome == Resync("crossed", ev(12, 12, bids=[("101.5", "1")]))
    assert not book.synced and book.buffered == 0  # the bad event is not replayed
    locked = synced_book(20)
    assert isinstance(locked.on_event(ev(22, 22, asks=[("100.0", "1")])), Resync)  # bid == ask


def test_a_crossed_snapshot_is_refused():
    book = LocalBook(depth=5)
    book.on_event(ev(5, 5))
    assert isinstance(book.on_snapshot(snap(4, bids=[("102", "1")], asks=[("101", "1")])), InvalidSnapshot)
    assert not book.synced and book.buffered == 1


def test_out_of_order_events_resync_then_recover():
    book = synced_book(10)  # 11
    assert isinstance(book.on_event(ev(15, 16)), Resync)  # arrived before 12..14
    assert book.on_event(ev(12, 14)) is BUFFERED  # late: kept for the next sync
    outcomes = book.on_snapshot(snap(16))
    assert all(o is STALE for o in outcomes) and book.last_update_id == 16
    assert isinstance(book.on_event(ev(17, 17)), Applied)


# --- properties: any delivery order, compared with the true book --------------------------
BID_PRICES = [f"{p}.{c}" for p in range(90, 100) for c in (0, 5)]
ASK_PRICES = [f"{p}.{c}" for p in range(101, 111) for c in (0, 5)]

level_change = st.tuples(st.booleans(), st.integers(0, len(BID_PRICES) - 1), st.sampled_from(["0", "1", "2.5", "7"]))
event_spec = st.lists(level_change, min_size=1, max_size=4)


def true_history(specs: list[list[tuple[bool, int, str]]]):
    """Events with contiguous ids and the true book after each (never crossed by construction)."""
    bids: dict[Decimal, tuple[str, str]] = {Decimal("95.0"): ("95.0", "1")}
    asks: dict[Decimal, tuple[str, str]] = {Decimal("105.0"): ("105.0", "1")}
    events, states, next_id = [], [], 1000
    initial = (sorted(bids.items(), reverse=True), sorted(asks.items()), next_id - 1)
    for spec in specs:
        event_bids, event_asks = [], []
        for is_bid, index, qty in spec:
            price = (BID_PRICES if is_bid else ASK_PRICES)[index]
            side, changes = (bids, event_bids) if is_bid else (asks, event_asks)
            changes.append((price, qty))
            if Decimal(qty) == 0:
                side.pop(Decimal(price), None)
            else:
                side[Decimal(price)] = (price, qty)
        event = DiffEvent("BTCUSDT", next_id, next_id + len(spec) - 1, 0, event_bids, event_asks)
        next_id = event.last_id + 1
        events.append(event)
        states.append((sorted(bids.items(), reverse=True), sorted(asks.items()), event.last_id))
    return events, [initial, *states]


def snapshot_of(state) -> DepthSnapshot:
    bids, asks, last = state
    return DepthSnapshot(last, [level for _, level in bids], [level for _, level in asks])


def top(state, n: int):
    bids, asks, _ = state
    return [level for _, level in bids][:n], [level for _, level in asks][:n]


@settings(max_examples=300, deadline=None)
@given(specs=st.lists(event_spec, min_size=1, max_size=40), data=st.data())
def test_any_delivery_gives_only_true_books_with_increasing_ids(specs, data):
    events, states = true_history(specs)
    order = list(range(len(events)))
    drops = data.draw(st.sets(st.sampled_from(order)) if order else st.just(set()), label="dropped")
    dupes = data.draw(st.lists(st.sampled_from(order), max_size=5), label="duplicated")
    delivery = [i for i in order if i not in drops]
    for i in dupes:
        delivery.insert(data.draw(st.integers(0, len(delivery)), label="dup at"), i)
    swaps = data.draw(st.lists(st.integers(0, max(0, len(delivery) - 2)), max_size=3), label="swaps")
    for s in swaps:
        if len(delivery) > 1:
            delivery[s], delivery[s + 1] = delivery[s + 1], delivery[s]

    book = LocalBook(depth=5)
    by_last_id = {state[2]: state for state in states}
    emitted, newest, resyncs = [], -1, 0
    for i in delivery:
        newest = max(newest, i)
        outcomes = [book.on_event(events[i])]
        if not book.synced:  # the REST snapshot is "now": the truth after the newest event sent
            result = book.on_snapshot(snapshot_of(states[newest + 1]))
            assert isinstance(result, list)
            outcomes += result
        for outcome in outcomes:
            if isinstance(outcome, Applied):
                emitted.append(outcome.event.last_id)
                assert (outcome.bids, outcome.asks) == top(by_last_id[outcome.event.last_id], 5)
            resyncs += isinstance(outcome, Resync)
    assert emitted == sorted(set(emitted)), "update ids must strictly increase"
    never_skips_ahead = all(i <= max(delivery[:k], default=-1) + 1 for k, i in enumerate(delivery))
    if never_skips_ahead:  # in order, maybe with repeats of what already came: no reason to resync
        assert resyncs == 0, "repeats alone never force a resync"
    if book.synced:
        assert (book.bids.top(50), book.asks.top(50)) == top(by_last_id[book.last_update_id], 50)
