"""Build and produce `wire.BookRecord`s for tests and benches (any part may reuse this).

    record = book_record("BTCUSDT", 7, bids=[("100.5", "2")], asks=[("100.6", "1.5")])
    produce_books(settings.kafka, topic, [record, ...])   # key = symbol, waits for delivery
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from quantcore import wire
from quantcore.settings import KafkaSettings
from quantcore.timeutil import now_us
from quantcore.topics import produce_all

Level = tuple[str | float, str | float]
TEST_SEED = 424242  # the provenance of every made-up book


def _levels(levels: Iterable[Level]) -> list[wire.PriceLevel]:
    return [wire.PriceLevel(price=str(price), qty=str(qty)) for price, qty in levels]


def book_record(symbol: str, update_id: int, bids: Sequence[Level] = (), asks: Sequence[Level] = (), *,
                exchange: str = "binance", event_time_us: int | None = None, ingest_time_us: int | None = None,
                mode: int = wire.BookMode.BOOK_MODE_LOCAL_BOOK, shard_id: int = 0,
                origin: int = wire.Origin.ORIGIN_SIMULATOR, simulator_seed: int = TEST_SEED) -> wire.BookRecord:
    """A book record; prices and quantities go out as the strings given (numbers via str()).
    Made-up books say so: simulator provenance with TEST_SEED unless told otherwise."""
    stamp = now_us()
    return wire.BookRecord(
        exchange=exchange, symbol=symbol, update_id=update_id, first_update_id=update_id,
        event_time_us=stamp if event_time_us is None else event_time_us,
        ingest_time_us=stamp if ingest_time_us is None else ingest_time_us,
        bids=_levels(bids), asks=_levels(asks), mode=mode, shard_id=shard_id,
        origin=origin, simulator_seed=simulator_seed,
    )


def random_levels(rng: random.Random, mid: float, depth: int, tick: float = 0.01) -> tuple[list[Level], list[Level]]:
    """A valid, uncrossed book around `mid`: strictly sorted levels, positive quantities,
    prices as exact 2-decimal strings."""
    best_bid = round(mid - tick * rng.randint(1, 3), 2)
    bids, asks = [], []
    price = best_bid
    for _ in range(depth):
        bids.append((f"{price:.2f}", f"{rng.uniform(0.001, 50):.4f}"))
        price = round(price - tick * rng.randint(1, 4), 2)
    price = round(best_bid + tick * rng.randint(1, 3), 2)
    for _ in range(depth):
        asks.append((f"{price:.2f}", f"{rng.uniform(0.001, 50):.4f}"))
        price = round(price + tick * rng.randint(1, 4), 2)
    return bids, asks


def random_book(rng: random.Random, symbol: str, update_id: int, depth: int = 20, mid: float | None = None) -> wire.BookRecord:
    bids, asks = random_levels(rng, mid if mid is not None else rng.uniform(10, 1000), depth)
    return book_record(symbol, update_id, bids, asks)


def produce_books(kafka: KafkaSettings, topic: str, records: Iterable[wire.BookRecord],
                  payloads: Iterable[tuple[str, bytes]] = ()) -> int:
    """Produce the records (key = symbol) and any raw (key, payload) pairs; waits until all
    are delivered and raises on a delivery error. Returns how many were sent."""
    pairs = [*((r.symbol, r.SerializeToString()) for r in records), *payloads]
    return produce_all(kafka, topic, ((key.encode(), value, None) for key, value in pairs))
