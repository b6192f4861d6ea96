"""Shards split the symbol universe evenly, whatever order the symbols are listed in."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, strategies as st

from quantcore.settings import DEFAULT_SYMBOLS
from streaming.ingest.sharding import shard_symbols

symbol_sets = st.sets(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=3, max_size=10), min_size=1,
                      max_size=80)


@given(symbols=symbol_sets, shards=st.integers(1, 12), seed=st.integers(0, 10**6))
def test_every_symbol_in_exactly_one_shard_balanced_and_order_free(symbols, shards, seed):
    listed = sorted(symbols)
    shuffled = listed[:]
    random.Random(seed).shuffle(shuffled)
    slices = [shard_symbols(listed, i, shards) for i in range(shards)]
    assert sorted(s for part in slices for s in part) == listed  # a partition
    sizes = [len(part) for part in slices]
    assert max(sizes) - min(sizes) <= 1  # balanced
    assert [shard_symbols(shuffled, i, shards) for i in range(shards)] == slices  # stable under reordering


def test_the_default_universe_splits_ten_ten_ten_and_case_does_not_matter():
    slices = [shard_symbols(DEFAULT_SYMBOLS, i, 3) for i in range(3)]
    assert [len(s) for s in slices] == [10, 10, 10]
    assert shard_symbols([s.lower() for s in DEFAULT_SYMBOLS], 1, 3) == slices[1]


def test_the_split_is_a_fixed_function_of_the_names():
    """Not Python's salted hash: another process (or machine) computes the same split."""
    assert shard_symbols(DEFAULT_SYMBOLS, 0, 3) == shard_symbols(list(reversed(DEFAULT_SYMBOLS)), 0, 3)
    assert len({tuple(shard_symbols(DEFAULT_SYMBOLS, i, 3)) for i in range(3)}) == 3


@pytest.mark.parametrize("shard_id, shards", [(3, 3), (-1, 3), (0, 0)])
def test_bad_shard_arguments_are_refused(shard_id, shards):
    with pytest.raises(ValueError):
        shard_symbols(DEFAULT_SYMBOLS, shard_id, shards)
