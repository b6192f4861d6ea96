"""Binance trade payloads in, validated trades or a FrameError with its reason out (pure)."""

from __future__ import annotations

import pytest

from streaming.ingest.frames import FrameError
from streaming.ingest.trade_frames import AGG_TRADE, TRADE, Trade, parse_trade


def trade_payload(**changes) -> dict:
    """Binance's `<symbol>@trade` payload as documented (without the removed `b`/`a`)."""
    payload = {"e": "trade", "E": 1_700_000_000_123, "s": "BTCUSDT", "t": 4_110_671_841, "p": "43250.01000000",
               "q": "0.00700000", "T": 1_700_000_000_122, "m": True, "M": True}
    return {**payload, **changes}


def agg_trade_payload(**changes) -> dict:
    payload = {"e": "aggTrade", "E": 1_700_000_000_123, "s": "BTCUSDT", "a": 158_410_082, "p": "43250.01000000",
               "q": "1.25000000", "f": 4_110_671_841, "l": 4_110_671_843, "T": 1_700_000_000_122, "m": False,
               "M": True}
    return {**payload, **changes}


def test_a_trade_keeps_its_exact_strings_ids_and_times():
    trade = parse_trade(trade_payload(), "BTCUSDT", received_us=42)
    assert trade == Trade(TRADE, "BTCUSDT", 4_110_671_841, 4_110_671_841, 4_110_671_841, "43250.01000000",
                          "0.00700000", True, 1_700_000_000_122, 1_700_000_000_123, 42)


def test_the_removed_order_ids_are_ignored_if_an_old_server_still_sends_them():
    assert parse_trade(trade_payload(b=88, a=50), "BTCUSDT").trade_id == 4_110_671_841


def test_an_agg_trade_is_numbered_by_its_aggregate_id_and_covers_f_to_l():
    trade = parse_trade(agg_trade_payload(), "BTCUSDT", 7, AGG_TRADE)
    assert (trade.kind, trade.trade_id, trade.first_trade_id, trade.last_trade_id) == (
        AGG_TRADE, 158_410_082, 4_110_671_841, 4_110_671_843)
    assert (trade.qty, trade.buyer_is_maker, trade.received_us) == ("1.25000000", False, 7)


@pytest.mark.parametrize("payload, reason", [
    ([1, 2], "trade payload is not a JSON object"),
    ({k: v for k, v in trade_payload().items() if k != "t"}, "missing field 't'"),
    ({k: v for k, v in trade_payload().items() if k != "p"}, "missing field 'p'"),
    ({k: v for k, v in trade_payload().items() if k != "m"}, "missing field 'm'"),
    (trade_payload(e="aggTrade"), "unexpected event type 'aggTrade' on the trade stream"),
    (trade_payload(s="ETHUSDT"), "event symbol 'ETHUSDT' does not match its stream (BTCUSDT)"),
    (trade_payload(t="12"), "field 't' is not a non-negative integer"),
    (trade_payload(t=-1), "field 't' is not a non-negative integer"),
    (trade_payload(T=1.5), "field 'T' is not a non-negative integer"),
    (trade_payload(E=True), "field 'E' is not a non-negative integer"),
    (trade_payload(m="true"), "field 'm' is not a boolean: 'true'"),
    (trade_payload(p=43250.01), "price 43250.01 is not a decimal string"),
    (trade_payload(p="4.3e4"), "price '4.3e4' is not a plain decimal number"),
    (trade_payload(p="NaN"), "price 'NaN' is not a plain decimal number"),
    (trade_payload(p="12.3.4"), "price '12.3.4' is not a plain decimal number"),
    (trade_payload(p=""), "price '' is not a plain decimal number"),
    (trade_payload(p="0.00000000"), "price 0.00000000 is not positive"),
    (trade_payload(q="0.00000000"), "qty 0.00000000 is not positive"),
    (trade_payload(q="-0.50000000"), "qty -0.50000000 is not positive"),
    (trade_payload(q="Infinity"), "qty 'Infinity' is not a plain decimal number"),
    (trade_payload(q="9" * 400), "qty has 400 characters: too large for a qty"),
    (trade_payload(q="１"), "qty '１' is not a plain decimal number"),  # a full-width digit: isdecimal, not ASCII
])
def test_a_malformed_trade_names_its_problem(payload, reason):
    with pytest.raises(FrameError) as caught:
        parse_trade(payload, "BTCUSDT")
    assert caught.value.reason == reason and caught.value.symbol == "BTCUSDT"


@pytest.mark.parametrize("payload, reason", [
    ({k: v for k, v in agg_trade_payload().items() if k != "l"}, "missing field 'l'"),
    (agg_trade_payload(e="trade"), "unexpected event type 'trade' on the aggTrade stream"),
    (agg_trade_payload(a=None), "field 'a' is not a non-negative integer"),
    (agg_trade_payload(f=10, l=9), "first trade id f (10) is greater than the last l (9)"),
])
def test_a_malformed_agg_trade_names_its_problem(payload, reason):
    with pytest.raises(FrameError) as caught:
        parse_trade(payload, "BTCUSDT", kind=AGG_TRADE)
    assert caught.value.reason == reason
