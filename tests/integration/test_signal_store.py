"""The Redis contract: atomic write-if-newer, publish only what was accepted."""

import pytest

from quantcore.wire import SignalUpdate
from quantcore.signal_store import UPDATES_CHANNEL, SignalStore, signal_key

pytestmark = pytest.mark.slow


def update(symbol: str, update_id: int, obi: float) -> SignalUpdate:
    message = SignalUpdate(symbol=symbol, update_id=update_id, exchange="binance")
    message.signals.obi_5 = obi
    return message


def test_only_newer_updates_are_stored_and_published(redis_conn):
    store = SignalStore(redis_conn)
    pubsub = redis_conn.pubsub()
    pubsub.subscribe(UPDATES_CHANNEL)
    pubsub.get_message(timeout=2)

    accepted = [store.write(update("BTCUSDT", uid, uid / 100)) for uid in (10, 12, 11, 12, 2**62, 9)]
    published = []
    while (message := pubsub.get_message(timeout=0.5)) is not None:
        published.append(SignalUpdate.FromString(message["data"]).update_id)

    assert accepted == [True, True, False, False, True, False]
    assert published == [10, 12, 2**62]
    latest = store.latest("BTCUSDT")
    assert latest.update_id == 2**62 and latest.times.publish_us > 0
    assert redis_conn.hget(signal_key("BTCUSDT"), "update_id") == str(2**62).encode()
    pubsub.close()


def test_pipelined_writes_and_snapshot(redis_conn):
    store = SignalStore(redis_conn)
    batch = [update("ETHUSDT", 5, 0.1), update("SOLUSDT", 7, -0.2), update("ETHUSDT", 4, 0.9)]
    assert store.write_many(batch) == 2
    snapshot = store.snapshot()
    assert set(snapshot) == {"ETHUSDT", "SOLUSDT"} == set(store.symbols())
    assert SignalUpdate.FromString(snapshot["ETHUSDT"]).signals.obi_5 == pytest.approx(0.1)
    assert redis_conn.hget(signal_key("SOLUSDT"), "obi_5") == b"-0.2"
    assert "obi_1" not in {k.decode() for k in redis_conn.hkeys(signal_key("SOLUSDT"))}, "unset signals stay unset"


def test_a_signal_that_disappears_leaves_the_hash(redis_conn):
    store = SignalStore(redis_conn)
    assert store.write(update("BNBUSDT", 1, 0.4), extra_fields=("note", "first"))
    emptied = SignalUpdate(symbol="BNBUSDT", update_id=2, exchange="binance")  # e.g. a side went empty
    assert store.write(emptied)
    fields = {k.decode() for k in redis_conn.hkeys(signal_key("BNBUSDT"))}
    assert "obi_5" not in fields, "a stale value must not outlive the update that dropped it"
    assert redis_conn.hget(signal_key("BNBUSDT"), "note") == b"first"
    assert redis_conn.hget(signal_key("BNBUSDT"), "update_id") == b"2"


def test_pipelined_writes_survive_a_script_flush(redis_conn):
    store = SignalStore(redis_conn)
    redis_conn.script_flush()  # as after a Redis restart: the script's SHA is unknown
    batch = [update("XRPUSDT", 3, 0.3), update("ADAUSDT", 4, 0.4)]
    assert store.write_many(batch) == 2
    assert store.write_many([update("XRPUSDT", 3, 0.9)]) == 0, "resent ids stay stale after the reload"
    stored = [store.latest(symbol) for symbol in ("XRPUSDT", "ADAUSDT")]
    assert [message.update_id for message in stored] == [3, 4]
    assert all(message.times.publish_us > 0 for message in stored)
