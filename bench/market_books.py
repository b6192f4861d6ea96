"""BookRecords of a simulated market, as the ingest writes them: loads for benchmarks whose
figures depend on what the books look like (the replay's size on disk above all).

`quantcore.samples.synthetic_day` repeats 16 level patterns per symbol with evenly spaced,
identical timestamps, which Parquet compresses to almost nothing; these books come from the
simulator's market model (streaming/simulator/model.py: 20 levels a side whose prices and
quantities move like a market's), stamped like the live pipeline's records: the exchange's
event time in whole milliseconds every 100 ms per symbol, the ingest's time a millisecond
or so later in microseconds, the Kafka timestamp the ingest's millisecond.
"""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from quantcore import wire
from quantcore.settings.sections import REPO_ROOT
from quantcore.timeutil import day_start_ms
from streaming.ingest.records import LOCAL_BOOK, Provenance, book_record
from streaming.simulator.model import Market

DEPTH = 20
STEP_MS = 100  # Binance's @depth@100ms
SEED = 7


def market_day(symbols: list[str], records: int, day: date, seed: int = SEED) -> Iterator[tuple[bytes, bytes, int]]:
    """`records` (key, value, timestamp_ms) from the start of `day`, a book of every symbol
    every STEP_MS, round-robin over symbols."""
    market = Market(symbols, seed)
    provenance = Provenance(wire.Origin.Value("ORIGIN_SIMULATOR"), seed)
    latency = random.Random(seed)
    models = [market[s] for s in symbols]
    keys = [m.symbol.encode() for m in models]
    start_ms = day_start_ms(day)
    for n in range(records):
        step, index = divmod(n, len(models))
        model = models[index]
        event = model.step()
        bids, asks = model.top(DEPTH)
        event_us = (start_ms + step * STEP_MS + latency.randrange(0, 3)) * 1000
        ingest_us = event_us + latency.randrange(300, 3000)
        value = book_record(symbol=model.symbol, update_id=event.last_id, first_update_id=event.first_id,
                            event_time_us=event_us, ingest_time_us=ingest_us, bids=bids, asks=asks,
                            mode=LOCAL_BOOK, shard_id=index % 3, provenance=provenance)
        yield keys[index], value, ingest_us // 1000


CACHE_DIR = REPO_ROOT / ".quantcore" / "bench-cache"  # built, never committed (.gitignore)
_LENGTH = struct.Struct("<IIq")  # key length, value length, timestamp_ms


def cached_market_day(symbols: list[str], records: int, day: date, seed: int = SEED) -> Iterator[tuple[bytes, bytes, int]]:
    """`market_day`, made once per (symbols, records, day, seed) and kept in CACHE_DIR: the
    model makes ~5,600 books a second on this machine, i.e. three minutes for a million,
    which a benchmark should not repeat on every run."""
    tag = hashlib.sha256(f"{','.join(symbols)}|{records}|{day}|{seed}".encode()).hexdigest()[:16]
    path = CACHE_DIR / f"market-day-{records}-{tag}.bin"
    if not path.exists():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with partial.open("wb") as out:
            for key, value, timestamp_ms in market_day(symbols, records, day, seed):
                out.write(_LENGTH.pack(len(key), len(value), timestamp_ms) + key + value)
        partial.rename(path)  # a run cut short leaves no half cache behind
    yield from _read_records(path)


def _read_records(path: Path) -> Iterator[tuple[bytes, bytes, int]]:
    with path.open("rb") as source:
        while header := source.read(_LENGTH.size):
            key_length, value_length, timestamp_ms = _LENGTH.unpack(header)
            key = source.read(key_length)
            yield key, source.read(value_length), timestamp_ms
