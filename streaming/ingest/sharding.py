"""Which symbols a shard ingests: balanced and independent of the order they are listed in.

Group i is `shard_symbols(symbols, i, shards)`; with A/B feeds shard i reads groups i and
i-1 (`shard_groups`), and publishes those whose lease it holds.

Symbols are ranked by a stable hash (not Python's salted `hash`) and dealt round-robin,
so shard sizes differ by at most one and the same set always gives the same split,
whichever process computes it.
"""

from __future__ import annotations

import hashlib


def _rank(symbol: str) -> tuple[bytes, str]:
    return hashlib.blake2b(symbol.upper().encode(), digest_size=8).digest(), symbol.upper()


def shard_symbols(symbols: list[str] | tuple[str, ...], shard_id: int, shards: int) -> list[str]:
    """The symbols of shard `shard_id` out of `shards`, sorted by name."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    if not 0 <= shard_id < shards:
        raise ValueError(f"shard_id must be in [0, {shards}), got {shard_id}")
    ranked = sorted({s.upper() for s in symbols}, key=_rank)
    return sorted(ranked[shard_id::shards])


def shard_groups(shard_id: int, shards: int, twin: bool) -> list[int]:
    """The symbol groups shard `shard_id` reads: its own, and with `twin` (A/B feeds, needs two
    shards or more) its neighbour's, so that every group is read by exactly two shards."""
    if not 0 <= shard_id < shards:
        raise ValueError(f"shard_id must be in [0, {shards}), got {shard_id}")
    if twin and shards >= 2:
        return [shard_id, (shard_id - 1) % shards]
    return [shard_id]
