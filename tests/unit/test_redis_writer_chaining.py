"""The compute stream's writer, rows in, SignalUpdates out: OFI and multi-level OFI chained
over superseded books, and seeded after a restart from what the symbol's hash keeps.

Redis is a fake that runs the write-if-newer script's logic in Python on the real script
arguments (SignalStore._args), so the hash the writer leaves behind, and reads back as its
seed, is the real one."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from quantcore import wire
from quantcore.microstructure import ofi_levels
from quantcore.signal_store import signal_key
from streaming.spark.compute_rows import COMPUTED_COLUMNS
from streaming.spark.redis_writer import TOP_LEVELS_FIELD, TOP_OF_BOOK_FIELD, BookSignalStore, SignalSink


class FakePipeline:
    def __init__(self, hashes: dict[str, dict[str, bytes]], strings: dict[str, bytes] | None = None,
                 reads: list[str] | None = None) -> None:
        self.hashes = hashes
        self.reads = [] if reads is None else reads
        self.strings = {} if strings is None else strings
        self.calls: list = []

    def hmget(self, key: str, *names: str) -> None:
        self.reads.append(key)
        self.calls.append([self.hashes.get(key, {}).get(name) for name in names])

    def get(self, key: str) -> None:
        self.calls.append(self.strings.get(key))

    def execute(self) -> list:
        return self.calls


class FakeRedis:
    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, bytes]] = {}
        self.strings: dict[str, bytes] = {}  # GET/SET keys (micro-price tables)
        self.reads: list[str] = []  # the hashes the writers read (HMGET), in order

    def register_script(self, _script: str):
        return SimpleNamespace(sha="fake")

    def pipeline(self, transaction: bool = False) -> FakePipeline:
        return FakePipeline(self.hashes, self.strings, self.reads)


class FakeStore(BookSignalStore):
    """WRITE_IF_UNMOVED in Python, on the arguments the real store sends."""

    published: list[wire.SignalUpdate]

    def _results(self, items) -> list[int]:
        return [self._run_script(*self._args(update, extra)) for update, extra in items]

    def _run_script(self, keys: list[str], args: list) -> int:
        *args, expected = args  # the script removes its last argument: the id chained from
        stored = self.client.hashes.setdefault(keys[0], {})
        found = stored.get("update_id", b"").decode()
        newer = not found or int(args[0]) > int(found)
        if found != expected:
            return -1 if newer else 0
        if not newer:
            return 0
        absent = args[3]
        for name in args[4:4 + absent]:
            stored.pop(name, None)
        pairs = ["update_id", args[0], "msg", args[1], *args[4 + absent:]]
        stored.update({pairs[i]: to_bytes(pairs[i + 1]) for i in range(0, len(pairs), 2)})
        self.published.append(wire.SignalUpdate.FromString(args[1]))
        return 1


def to_bytes(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


class NoDeadLetters:
    def send(self, letters) -> int:
        raise AssertionError("no dead letters expected")


def book_row(symbol: str, update_id: int, bids: list, asks: list) -> dict:
    """A computed row (what compute_rows gives the writer) of a valid book."""
    row = dict.fromkeys(COMPUTED_COLUMNS)
    row.update(symbol=symbol, exchange="binance", update_id=update_id, mode="BOOK_MODE_LOCAL_BOOK",
               exchange_event_us=1, ingest_us=2, kafka_append_us=3, compute_us=4,
               best_bid=bids[0][0] if bids else None, best_bid_qty=bids[0][1] if bids else None,
               best_ask=asks[0][0] if asks else None, best_ask_qty=asks[0][1] if asks else None,
               top_bid_px=[p for p, _ in bids[:10]], top_bid_qty=[q for _, q in bids[:10]],
               top_ask_px=[p for p, _ in asks[:10]], top_ask_qty=[q for _, q in asks[:10]])
    return row


def deep(best_bid: float, best_ask: float, qtys: list[float], depth: int = 12) -> tuple[list, list]:
    """`depth` levels a side, 1 apart, with quantities cycling through `qtys`."""
    bids = [(best_bid - i, qtys[i % len(qtys)]) for i in range(depth)]
    asks = [(best_ask + i, qtys[(i + 1) % len(qtys)]) for i in range(depth)]
    return bids, asks


def sink_on(redis: FakeRedis, remember: bool = False) -> tuple[SignalSink, list[wire.SignalUpdate]]:
    """A writer process: its own store and in-memory state, sharing only Redis."""
    store = FakeStore(redis, remember)
    store.published = []
    return SignalSink(store, NoDeadLetters()), store.published


def expected_levels(previous: tuple[list, list], current: tuple[list, list]) -> list[float]:
    return ofi_levels(previous[0][:10], previous[1][:10], current[0][:10], current[1][:10])


@pytest.mark.parametrize("remember", [False, True], ids=["reads-redis", "remembers"])
def test_superseded_books_are_chained_and_a_restart_seeds_from_the_stored_levels(remember):
    redis = FakeRedis()
    book1 = deep(100.0, 101.0, [1.0, 2.0, 3.0])
    book2 = deep(100.0, 101.0, [2.0, 2.0, 5.0])   # superseded within the write
    book3 = deep(101.0, 102.0, [4.0, 1.0])        # bid and ask up one: every level moves
    other = deep(50.0, 51.0, [1.0], depth=3)

    sink, published = sink_on(redis, remember)
    stats = sink.write([book_row("A", 1, *book1), book_row("B", 7, *other)])
    assert stats.published == 2
    assert all(not update.signals.ofi_levels and not update.signals.HasField("ofi") for update in published), \
        "a symbol's first book has no OFI"
    stored = redis.hashes[signal_key("A")]
    assert b" " not in stored[TOP_LEVELS_FIELD], "compact JSON"
    assert json.loads(stored[TOP_LEVELS_FIELD]) == [[p for p, _ in book1[0][:10]], [q for _, q in book1[0][:10]],
                                                    [p for p, _ in book1[1][:10]], [q for _, q in book1[1][:10]]]
    assert "ofi_levels" not in stored

    published.clear()
    stats = sink.write([book_row("A", 2, *book2), book_row("A", 3, *book3)])
    assert (stats.superseded, stats.published) == (1, 1)
    (update,) = published
    assert update.update_id == 3
    assert list(update.signals.ofi_levels) == expected_levels(book2, book3), "against the superseded book 2"
    assert len(update.signals.ofi_levels) == 10 and update.signals.ofi_levels[0] == update.signals.ofi
    assert list(update.signals.ofi_levels) != expected_levels(book1, book3)
    stored = redis.hashes[signal_key("A")]
    assert json.loads(stored["ofi_levels"]) == list(update.signals.ofi_levels), "readable in the hash"
    assert json.loads(stored[TOP_OF_BOOK_FIELD]) == [101.0, 4.0, 102.0, 1.0]

    # A restart: a new writer with nothing in memory; the seed is the hash of book 3.
    restarted, published = sink_on(redis, remember)
    book4 = deep(101.0, 102.0, [3.0, 6.0, 1.0], depth=4)  # shallower: levels 5..10 leave
    stats = restarted.write([book_row("A", 4, *book4)])
    (update,) = published
    assert stats.published == 1
    assert list(update.signals.ofi_levels) == expected_levels(book3, book4)
    assert update.signals.ofi_levels[0] == update.signals.ofi
    assert update.signals.ofi_levels[9] == -1.0 + 4.0, "level 10 departs: -qb' + qa' of book 3"

    # A book with an empty side: no OFI, and the stored vector goes (not left stale).
    stats = restarted.write([book_row("A", 5, book4[0], [])])
    assert not published[-1].signals.ofi_levels and "ofi_levels" not in redis.hashes[signal_key("A")]


def test_a_hash_written_before_levels_were_kept_gives_ofi_but_no_levels():
    redis = FakeRedis()
    sink, published = sink_on(redis)
    first, second = deep(100.0, 101.0, [1.0, 2.0]), deep(100.0, 101.0, [3.0, 2.0])
    sink.write([book_row("A", 1, *first)])
    del redis.hashes[signal_key("A")][TOP_LEVELS_FIELD]
    sink.write([book_row("A", 2, *second)])
    update = published[-1]
    assert update.signals.ofi == 3.0 - 1.0 and not update.signals.ofi_levels


def test_a_remembering_writer_reads_a_hash_once_and_chains_again_after_another_writer():
    """The relay's store remembers what it wrote; a standby that wrote meanwhile makes its
    next write refused, re-read and chained from the standby's book, as one writer would."""
    redis = FakeRedis()
    books = [deep(100.0, 101.0, [q, 2.0, 1.0]) for q in (1.0, 4.0, 2.0, 7.0, 3.0)]
    relay, relay_published = sink_on(redis, remember=True)
    relay.write([book_row("A", 1, *books[0])])
    relay.write([book_row("A", 2, *books[1])])
    assert redis.reads == [signal_key("A")], "read once, then chained from what it wrote"

    standby, _ = sink_on(redis)
    standby.write([book_row("A", 3, *books[2])])
    stats = relay.write([book_row("A", 4, *books[3])])
    assert (stats.published, stats.stale) == (1, 0)
    assert list(relay_published[-1].signals.ofi_levels) == expected_levels(books[2], books[3]), \
        "against the standby's book 3, not the remembered book 2"
    assert redis.reads == [signal_key("A")] * 3, "the standby's read, then the relay's after the refusal"

    standby.write([book_row("A", 9, *books[4])])  # moved past the relay's next book
    stats = relay.write([book_row("A", 5, *books[4])])
    assert (stats.rows, stats.published, stats.stale) == (1, 0, 1)
    assert int(redis.hashes[signal_key("A")]["update_id"]) == 9, "never moved backwards"


def test_the_book_store_refuses_the_plain_writes_whose_arguments_its_script_would_misread():
    store = BookSignalStore(FakeRedis())
    update = wire.SignalUpdate(symbol="A", update_id=1)
    with pytest.raises(TypeError, match="write_books"):
        store.write_many([update])
    with pytest.raises(TypeError, match="write_books"):
        store.write(update)
