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


def test_a_chained_write_is_refused_once_another_writer_moved_the_symbol(redis_conn):
    """WRITE_IF_UNMOVED in Redis: a book is written only over the stored book its OFI was
    chained from; the relay's store remembers what it wrote instead of reading it back."""
    from streaming.spark.newest_books import SeenBook
    from streaming.spark.ofi import TopOfBook
    from streaming.spark.redis_writer import BookSignalStore

    relay, standby = BookSignalStore(redis_conn, remember=True), BookSignalStore(redis_conn)
    top, levels = TopOfBook(100.0, 2.0, 101.0, 3.0), ([100.0, 99.0], [2.0, 1.0], [101.0, 102.0], [3.0, 4.0])

    def book(update_id: int):
        return update("BTCUSDT", update_id, 0.1), top, levels

    assert relay.write_books([book(5)], {}) == (1, [])
    assert relay.previous_books(["BTCUSDT"]) == {"BTCUSDT": SeenBook(5, top, levels)}
    remembered = relay.previous_books(["BTCUSDT"])
    assert standby.write_books([book(6)], standby.previous_books(["BTCUSDT"])) == (1, [])

    assert relay.write_books([book(7)], remembered) == (0, ["BTCUSDT"]), "chained from 5 while 6 is stored"
    assert "BTCUSDT" not in relay.written
    read_back = relay.previous_books(["BTCUSDT"])
    assert read_back["BTCUSDT"].update_id == 6 and list(read_back["BTCUSDT"].levels) == list(levels)
    assert relay.write_books([book(7)], read_back) == (1, [])
    assert relay.write_books([book(7)], relay.previous_books(["BTCUSDT"])) == (0, []), "not newer: stale"

    redis_conn.delete(signal_key("BTCUSDT"))  # Redis lost the hash: nothing to chain from
    assert relay.write_books([book(8)], {"BTCUSDT": SeenBook(7, top, levels)}) == (0, ["BTCUSDT"])
    assert relay.write_books([book(8)], relay.previous_books(["BTCUSDT"])) == (1, [])
    assert SignalStore(redis_conn).latest("BTCUSDT").update_id == 8
