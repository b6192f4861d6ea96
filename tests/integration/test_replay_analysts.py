"""docs/analysts.md: every ```python block runs against a replayed table and prints the
numbers the known records imply (counts from the records, obi_5 from their quantities)."""

from __future__ import annotations

import contextlib
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

from quantcore.topics import CREATE_TIME, temporary_topic
from quantcore.settings import REPO_ROOT
from streaming.spark.replay_job import replay
from tests.support.replay_records import (
    DAY1,
    DAY2,
    PARTITIONS,
    expected_raw,
    expected_signal_books,
    produce_known,
)

pytestmark = pytest.mark.slow

DOC = REPO_ROOT / "docs" / "analysts.md"
SUMMARY_LINE = re.compile(r"^(\d{4}-\d\d-\d\d) ([A-Z0-9]+) (\d+) (-?\d+\.\d{6})$", re.M)
RAW_LINE = re.compile(r"^books_raw (\d{4}-\d\d-\d\d) (\d+)$", re.M)


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, re.M | re.S)


def obi_5(book) -> float:
    bid = sum(float(level.qty) for level in book.bids[:5])
    ask = sum(float(level.qty) for level in book.asks[:5])
    return (bid - ask) / (bid + ask)


def expected_summary() -> dict[tuple[str, str], tuple[int, str]]:
    """(day, symbol) -> (books, mean obi_5 to 6 decimals), straight from the produced books."""
    summary = {}
    for day in (DAY1, DAY2):
        by_symbol: dict[str, list[float]] = {}
        for book in expected_signal_books(day):
            by_symbol.setdefault(book.symbol, []).append(obi_5(book))
        for symbol, values in by_symbol.items():
            summary[(day.isoformat(), symbol)] = (len(values), f"{sum(values) / len(values):.6f}")
    return summary


@pytest.fixture(scope="module")
def analyst_root(spark, kafka, tmp_path_factory):
    """Both days replayed into a fresh data root."""
    with temporary_topic(kafka.kafka, "qc.test.analysts", PARTITIONS, CREATE_TIME) as topic:
        produce_known(kafka.kafka, topic)
        root = str(tmp_path_factory.mktemp("analysts") / "delta")
        replay(spark, kafka.override(book_topic=topic, data_root=root), [DAY1, DAY2])
        yield root


def run_block(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {"__name__": "__analyst__"})  # noqa: S102 - our own docs
    return out.getvalue()


def test_doc_has_the_three_ways_in_and_the_arrays_shape():
    blocks = python_blocks(Path(DOC).read_text())
    assert len(blocks) == 5
    assert "build_spark_session" in blocks[0] and "scan_delta" in blocks[1] and "delta_scan" in blocks[2]
    assert "list_filter" in blocks[3]
    assert "quantcore.microstructure" in blocks[4]


def test_the_signal_example_prints_what_its_comments_say():
    """The pure-signal example (microstructure section): OFI per level and the trade windows,
    worked by hand in its comments."""
    printed = run_block(python_blocks(Path(DOC).read_text())[4])
    assert printed.splitlines() == ["[3.0, -5.0]", "101.5 -0.5"]


def test_the_arrays_shape_gives_back_each_books_levels(analyst_root, monkeypatch):
    monkeypatch.setenv("QUANTCORE_DATA_ROOT", analyst_root)
    printed = run_block(python_blocks(Path(DOC).read_text())[3])
    books = {(b.symbol, b.update_id): b for day in (DAY1, DAY2) for b in expected_signal_books(day, valid_only=False)}
    lines = re.findall(r"^bids ([A-Z]+) (\d+) (\d+) (\S+) (\S+)$", printed, re.M)
    assert len(lines) == 3, printed
    for symbol, update_id, depth, price, qty in lines:
        book = books[(symbol, int(update_id))]
        assert int(depth) == len(book.bids)
        assert (Decimal(price), Decimal(qty)) == (Decimal(book.bids[0].price), Decimal(book.bids[0].qty))


@pytest.mark.parametrize("index, engine", [(0, "spark"), (1, "deltalake+polars"), (2, "duckdb")])
def test_analyst_examples_print_the_expected_numbers(spark, analyst_root, monkeypatch, index, engine):
    monkeypatch.setenv("QUANTCORE_DATA_ROOT", analyst_root)
    printed = run_block(python_blocks(Path(DOC).read_text())[index])

    summary = {(day, symbol): (int(books), avg) for day, symbol, books, avg in SUMMARY_LINE.findall(printed)}
    assert summary == expected_summary(), f"{engine} printed:\n{printed}"
    if engine == "deltalake+polars":
        per_day = {day: int(rows) for day, rows in RAW_LINE.findall(printed)}
        assert per_day == {DAY1.isoformat(): len(expected_raw(DAY1)), DAY2.isoformat(): len(expected_raw(DAY2))}
